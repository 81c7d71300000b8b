package dev.cria.engine.optim;

import dev.cria.engine.kernels.Parallel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * AdamW as PyTorch's {@code torch.optim.AdamW}: decoupled weight decay {@code p -= lr * wd * p},
 * then Adam with bias correction. Norm weights are not decayed. The moments live in flat buffers
 * laid out like the parameters; the update runs on all cores in contiguous chunks.
 *
 * @see GradientClipping
 */
public final class AdamW implements AutoCloseable {
  /**
   * Hyperparameters.
   *
   * @param beta1 first-moment decay (0.9)
   * @param beta2 second-moment decay (0.95 for Llama pretraining)
   * @param eps added to the root of the second moment (1e-8)
   * @param weightDecay decoupled decay (0.1)
   */
  public record Settings(double beta1, double beta2, double eps, double weightDecay) {
    public static Settings llama() {
      return new Settings(0.9, 0.95, 1e-8, 0.1);
    }
  }

  private static final int CHUNK = 1 << 16;
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private final ParameterLayout layout;
  private final Settings settings;
  private final Parallel parallel;
  private final Arena arena;
  private final Floats m;
  private final Floats v;
  private final long from;
  private final long to;
  private long steps;

  /** AdamW over every parameter. */
  public AdamW(ParameterLayout layout, Settings settings, Parallel parallel) {
    this(layout, settings, parallel, 0, layout.size());
  }

  /**
   * AdamW over parameters {@code [from, to)} only, with moments for just those: a ZeRO-1 shard.
   * {@link #step} then reads and writes only that range.
   */
  public AdamW(ParameterLayout layout, Settings settings, Parallel parallel, long from, long to) {
    if (from < 0 || to > layout.size() || from > to) {
      throw new IllegalArgumentException("shard [" + from + ", " + to + ") outside [0, " + layout.size() + ")");
    }
    this.layout = layout;
    this.settings = settings;
    this.parallel = parallel;
    this.from = from;
    this.to = to;
    this.arena = Arena.ofShared();
    this.m = Floats.allocate(arena, Math.max(1, to - from));
    this.v = Floats.allocate(arena, Math.max(1, to - from));
  }

  /** Bytes of the two moments this optimizer holds. */
  public long stateBytes() {
    return 2 * (to - from) * Float.BYTES;
  }

  /** Updates taken so far. */
  public long steps() {
    return steps;
  }

  /**
   * Sets the count of updates taken, for resuming from a checkpoint (the bias corrections depend
   * on it); the moments are restored through {@link #firstMoment()} and {@link #secondMoment()}.
   */
  public void restoreSteps(long steps) {
    if (steps < 0) {
      throw new IllegalArgumentException("steps must be zero or more, got " + steps);
    }
    this.steps = steps;
  }

  /** First parameter this optimizer updates. */
  public long from() {
    return from;
  }

  /** One past the last parameter this optimizer updates. */
  public long to() {
    return to;
  }

  /** The first moment, element i for parameter {@code from() + i}. */
  public Floats firstMoment() {
    return m;
  }

  /** The second moment, laid out as {@link #firstMoment()}. */
  public Floats secondMoment() {
    return v;
  }

  /** One update of {@code parameters} from {@code gradients} at learning rate {@code lr}. */
  public void step(Floats parameters, Floats gradients, double lr) {
    steps++;
    double b1 = settings.beta1();
    double b2 = settings.beta2();
    float c1 = (float) (1 - Math.pow(b1, steps));
    float c2 = (float) (1 - Math.pow(b2, steps));
    for (ParameterLayout.Tensor t : layout.tensors()) {
      long first = Math.max(t.offset(), from);
      long last = Math.min(t.end(), to);
      if (first >= last) {
        continue;
      }
      float decay = (float) (1 - lr * (t.weightDecay() ? settings.weightDecay() : 0));
      long chunks = (last - first + CHUNK - 1) / CHUNK;
      parallel.forRange(0, Math.toIntExact(chunks), (k0, k1, worker) -> {
        long start = first + (long) k0 * CHUNK;
        long end = Math.min(last, first + (long) k1 * CHUNK);
        update(parameters.segment(), gradients.segment(), start, end, (float) lr, decay, (float) b1, (float) b2,
            c1, c2, (float) settings.eps());
      });
    }
  }

  private void update(MemorySegment p, MemorySegment g, long start, long end, float lr, float decay, float b1,
      float b2, float c1, float c2, float eps) {
    MemorySegment ms = m.segment();
    MemorySegment vs = v.segment();
    long i = start;
    // Vector part: the same arithmetic as the scalar tail, lane by lane.
    for (; i <= end - L; i += L) {
      long at = i * Float.BYTES;
      long momentAt = (i - from) * Float.BYTES;
      FloatVector grad = FloatVector.fromMemorySegment(S, g, at, NATIVE);
      FloatVector mi = FloatVector.fromMemorySegment(S, ms, momentAt, NATIVE).mul(b1).add(grad.mul(1 - b1));
      FloatVector vi = FloatVector.fromMemorySegment(S, vs, momentAt, NATIVE).mul(b2).add(grad.mul(grad).mul(1 - b2));
      mi.intoMemorySegment(ms, momentAt, NATIVE);
      vi.intoMemorySegment(vs, momentAt, NATIVE);
      FloatVector step = mi.div(c1).mul(lr).div(vi.div(c2).sqrt().add(eps));
      FloatVector.fromMemorySegment(S, p, at, NATIVE).mul(decay).sub(step).intoMemorySegment(p, at, NATIVE);
    }
    for (; i < end; i++) {
      float grad = g.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      float mi = b1 * ms.getAtIndex(ValueLayout.JAVA_FLOAT, i - from) + (1 - b1) * grad;
      float vi = b2 * vs.getAtIndex(ValueLayout.JAVA_FLOAT, i - from) + (1 - b2) * (grad * grad);
      ms.setAtIndex(ValueLayout.JAVA_FLOAT, i - from, mi);
      vs.setAtIndex(ValueLayout.JAVA_FLOAT, i - from, vi);
      float param = p.getAtIndex(ValueLayout.JAVA_FLOAT, i) * decay;
      p.setAtIndex(ValueLayout.JAVA_FLOAT, i, param - (mi / c1) * lr / ((float) Math.sqrt(vi / c2) + eps));
    }
  }

  @Override
  public void close() {
    arena.close();
  }
}
