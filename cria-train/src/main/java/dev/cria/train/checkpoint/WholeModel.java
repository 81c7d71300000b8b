package dev.cria.train.checkpoint;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.SliceCopy;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import java.util.List;

/**
 * The whole model's parameters and AdamW moments, gathered on rank 0 of a tensor-parallel group
 * from its ranks' slices, so that a checkpoint holds whole tensors as one rank's would, whatever
 * the layout that saved it (and any layout can resume it, {@link StartingWeights} cutting each
 * rank's slice back out).
 *
 * <p>Each rank in turn broadcasts its slice (parameters, then each moment) and rank 0 puts it in
 * place ({@link SliceCopy}). Rank 0 holds the whole model and its moments besides its slice, three
 * floats a parameter of the whole model: fine for a model one machine holds, and the limit of this
 * way of saving (a checkpoint written slice by slice, each rank its own part of each tensor, is
 * left to do).
 */
public final class WholeModel implements AutoCloseable {
  private final Collective group;
  private final LlamaModel model;
  private final AdamW slice;
  private final ParameterLayout layout;
  private final List<ParameterLayout> slices; // rank 0: each rank's slice's layout, by rank
  private final Buffers buffers; // the backend's, so the run's count of its tensors has these
  private final Floats received; // another rank's slice, as the broadcast brings it
  private final Floats parameters; // rank 0
  private final AdamW optimizer; // rank 0: the whole model's moments

  private WholeModel(
      LlamaModel model, AdamW slice, Collective group, AdamW.Settings settings, Backend backend) {
    this.group = group;
    this.model = model;
    this.slice = slice;
    this.layout = new ParameterLayout(model.config());
    this.buffers = backend.buffers();
    this.received = buffers.allocate(model.layout().size());
    this.parameters = group.rank() == 0 ? buffers.allocate(layout.size()) : null;
    this.optimizer = group.rank() == 0 ? new AdamW(layout, settings, backend) : null;
    List<ParameterLayout> theirs = new java.util.ArrayList<>();
    for (int r = 0; group.rank() == 0 && r < group.worldSize(); r++) {
      theirs.add(
          r == 0
              ? model.layout()
              : new ParameterLayout(model.config(), new ModelSlice(group.worldSize(), r)));
    }
    this.slices = List.copyOf(theirs);
  }

  /**
   * For {@code model}, split over {@code tensorGroup}, whose optimizer is {@code optimizer}: one
   * AdamW over all of this rank's slice (no data-parallel sharding beside tensor parallelism yet).
   */
  public static WholeModel of(
      LlamaModel model,
      List<AdamW> optimizer,
      Collective tensorGroup,
      AdamW.Settings settings,
      Backend backend) {
    if (optimizer.size() != 1
        || optimizer.getFirst().from() != 0
        || optimizer.getFirst().to() != model.layout().size()) {
      throw new IllegalArgumentException(
          "gathering a tensor-parallel checkpoint needs one AdamW over the whole slice");
    }
    if (model.slice().parts() != tensorGroup.worldSize()) {
      throw new IllegalArgumentException(
          "the model is cut in "
              + model.slice().parts()
              + " slices, the group has "
              + tensorGroup.worldSize()
              + " ranks");
    }
    return new WholeModel(model, optimizer.getFirst(), tensorGroup, settings, backend);
  }

  /** Whether this rank holds the whole model once {@link #gather} returns (rank 0 of the group). */
  public boolean holdsIt() {
    return group.rank() == 0;
  }

  /**
   * Every rank of the group calls it together: rank 0's whole parameters and moments become the
   * model's as its ranks hold them now.
   */
  public void gather() {
    gather(model.parameters(), parameters);
    gather(slice.firstMoment(), optimizer == null ? null : optimizer.firstMoment());
    gather(slice.secondMoment(), optimizer == null ? null : optimizer.secondMoment());
    if (optimizer != null) {
      optimizer.restoreSteps(slice.steps());
    }
  }

  private void gather(Floats mine, Floats whole) {
    long bytes = model.layout().size() * Float.BYTES;
    for (int r = 0; r < group.worldSize(); r++) {
      Floats from = r == group.rank() ? mine : received;
      if (r > 0) { // rank 0's own slice needs no trip
        group.broadcast(from.segment(), bytes, r);
      }
      if (whole != null) { // rank 0
        SliceCopy.toWhole(slices.get(r), from, layout, whole);
      }
    }
  }

  /** The whole model's layout. */
  public ParameterLayout layout() {
    return layout;
  }

  /** Rank 0: the whole model's parameters, as of the last {@link #gather}. */
  public Floats parameters() {
    return parameters;
  }

  /** Rank 0: AdamW's moments of the whole model, as of the last {@link #gather}. */
  public List<AdamW> optimizer() {
    return List.of(optimizer);
  }

  @Override
  public void close() {
    if (optimizer != null) {
      optimizer.close();
    }
    buffers.close();
  }
}
