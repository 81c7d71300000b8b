package dev.cria.train.checkpoint;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code trainer_state.json}: where the loop stands, everything besides the tensors that the next
 * step depends on. The data position is {@code consumedSamples} in the order seeded by {@code
 * seed}; cria's training has no dropout, so the seed is all the random state there is. The learning
 * rate is a function of the step, recorded with the schedule for reading.
 *
 * @param step optimizer steps taken (the next step is {@code step + 1})
 * @param consumedSamples samples of the train split consumed, step x global batch
 * @param optimizerSteps AdamW's update count (its bias corrections depend on it)
 * @param worldSize data-parallel ranks that wrote the optimizer shards
 * @param seed seed of the initial weights and of the sample order
 * @param lastLr the learning rate of the last step taken
 * @param schedule the schedule's description (warmup, cosine, bounds)
 * @param lastLoss the last step's reduced train loss
 */
public record TrainingState(
    long step,
    long consumedSamples,
    long optimizerSteps,
    int worldSize,
    long seed,
    double lastLr,
    String schedule,
    double lastLoss) {
  public static final String FILE = "trainer_state.json";
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  void write(Path dir) throws IOException {
    ObjectNode o = JSON.createObjectNode();
    o.put("step", step);
    o.put("consumed_samples", consumedSamples);
    o.put("optimizer_steps", optimizerSteps);
    o.put("world_size", worldSize);
    ObjectNode rng = o.putObject("rng");
    rng.put("seed", seed);
    rng.put("data_position", consumedSamples);
    ObjectNode lr = o.putObject("lr_schedule");
    lr.put("description", schedule);
    lr.put("last_lr", lastLr);
    o.put("last_loss", lastLoss);
    AtomicFiles.writeString(dir.resolve(FILE), JSON.writeValueAsString(o) + "\n");
  }

  static TrainingState read(Path dir) throws IOException {
    Path file = dir.resolve(FILE);
    JsonNode o;
    try {
      o = JSON.readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file + ": missing");
    } catch (JacksonException e) {
      throw new CheckpointException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    for (String key : new String[] {"step", "consumed_samples", "optimizer_steps", "world_size"}) {
      if (!o.path(key).canConvertToLong()) {
        throw new CheckpointException(file + ": " + key + " is missing or not an integer");
      }
    }
    return new TrainingState(
        o.get("step").asLong(),
        o.get("consumed_samples").asLong(),
        o.get("optimizer_steps").asLong(),
        o.get("world_size").asInt(),
        o.path("rng").path("seed").asLong(),
        o.path("lr_schedule").path("last_lr").asDouble(),
        o.path("lr_schedule").path("description").asString(""),
        o.path("last_loss").asDouble(Double.NaN));
  }
}
