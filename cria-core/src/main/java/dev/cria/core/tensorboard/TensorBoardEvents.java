package dev.cria.core.tensorboard;

import dev.cria.core.protobuf.ProtoReader;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the scalars from a TensorBoard event file: cria's own, or any writer's that stores scalars
 * as {@code simple_value} (PyTorch's SummaryWriter, so NeMo's).
 */
public final class TensorBoardEvents {
  private TensorBoardEvents() {}

  /** One scalar: {@code tag} = {@code value} at {@code step}, written at {@code wallTime}. */
  public record Scalar(String tag, long step, float value, double wallTime) {}

  /** What an event file holds. */
  public record Contents(String fileVersion, List<Scalar> scalars) {}

  /**
   * The scalars of a file that may still be being written: a record cut short at its end is left
   * for the next read instead of being an error.
   */
  public static Contents readLive(Path file) throws IOException {
    return read(file, true);
  }

  /**
   * The last {@code n} values of {@code tag} in the event files directly in {@code dir}, by step (a
   * step written by several files takes the newest file's value); empty when there are none or they
   * cannot be read.
   */
  public static List<Double> recent(Path dir, String tag, int n) {
    java.util.TreeMap<Long, Double> byStep = new java.util.TreeMap<>();
    try (java.util.stream.Stream<Path> s = Files.list(dir)) {
      for (Path f :
          s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents."))
              .sorted()
              .toList()) {
        for (Scalar x : readLive(f).scalars()) {
          if (x.tag().equals(tag)) {
            byStep.put(x.step(), (double) x.value());
          }
        }
      }
    } catch (IOException e) {
      return List.of();
    }
    List<Double> all = new ArrayList<>(byStep.values());
    return all.subList(Math.max(0, all.size() - n), all.size());
  }

  /** The scalars of a finished file; a truncated record is an error naming the file. */
  public static Contents read(Path file) throws IOException {
    return read(file, false);
  }

  private static Contents read(Path file, boolean live) throws IOException {
    String version = null;
    List<Scalar> scalars = new ArrayList<>();
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
      byte[] record;
      while ((record = next(in, file, live)) != null) {
        ProtoReader event = new ProtoReader(record);
        double wallTime = 0;
        long step = 0;
        List<String[]> pending = new ArrayList<>();
        List<Float> values = new ArrayList<>();
        while (event.hasMore()) {
          int tag = event.readTag();
          switch (tag >>> 3) {
            case 1 -> wallTime = event.readDouble();
            case 2 -> step = event.readVarint();
            case 3 -> version = event.readString();
            case 5 -> {
              ProtoReader summary = event.readMessage();
              while (summary.hasMore()) {
                int st = summary.readTag();
                if (st >>> 3 != 1) {
                  summary.skip(st & 7);
                  continue;
                }
                ProtoReader value = summary.readMessage();
                String name = null;
                float simple = Float.NaN;
                while (value.hasMore()) {
                  int vt = value.readTag();
                  switch (vt >>> 3) {
                    case 1 -> name = value.readString();
                    case 2 -> simple = value.readFloat();
                    default -> value.skip(vt & 7);
                  }
                }
                if (name != null && !Float.isNaN(simple)) {
                  pending.add(new String[] {name});
                  values.add(simple);
                }
              }
            }
            default -> event.skip(tag & 7);
          }
        }
        for (int i = 0; i < pending.size(); i++) {
          scalars.add(new Scalar(pending.get(i)[0], step, values.get(i), wallTime));
        }
      }
    } catch (ProtoReader.ProtoException e) {
      throw new IOException(file + ": malformed event: " + e.getMessage(), e);
    }
    return new Contents(version, scalars);
  }

  private static byte[] next(InputStream in, Path file, boolean live) throws IOException {
    try {
      return TfRecord.read(in, file.toString());
    } catch (TfRecord.Truncated e) {
      if (live) {
        return null;
      }
      throw e;
    }
  }
}
