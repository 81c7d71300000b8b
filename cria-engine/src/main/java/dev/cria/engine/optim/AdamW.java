package dev.cria.engine.optim;

import static dev.cria.engine.optim.StochasticRounding.Stream.FIRST_MOMENT;
import static dev.cria.engine.optim.StochasticRounding.Stream.PARAMETERS;
import static dev.cria.engine.optim.StochasticRounding.Stream.SECOND_MOMENT;

import dev.cria.engine.backend.AdamWUpdate;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.backend.Kernels;
import dev.cria.engine.backend.StochasticDraws;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;

/**
 * AdamW as PyTorch's {@code torch.optim.AdamW}: decoupled weight decay {@code p -= lr * wd * p},
 * then Adam with bias correction. Norm weights are not decayed. The moments live in flat buffers
 * laid out like the parameters, on the backend's memory; the update is the backend's {@link
 * Kernels#adamw} kernel, one call per tensor. Under stochastic rounding (bf16-sr) the moments are
 * bf16 values and are stored as such, two bytes each, and the update is {@link
 * Kernels#adamwStochastic}: it widens them, updates, rounds parameters and moments stochastically
 * and stores the moments back in one pass, the same bits as keeping them in f32 slots and rounding
 * each in a pass of its own (widening is exact, the update elementwise).
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

  private final ParameterLayout layout;
  private final Settings settings;
  private final Kernels kernels;
  private final Buffers buffers;
  private final Moment m;
  private final Moment v;
  private final long from;
  private final long to;
  private final StochasticRounding rounding; // null: fp32 storage
  private long steps;

  /** AdamW over every parameter. */
  public AdamW(ParameterLayout layout, Settings settings, Backend backend) {
    this(layout, settings, backend, 0, layout.size());
  }

  /**
   * AdamW over parameters {@code [from, to)} only, with moments for just those: a ZeRO-1 shard.
   * {@link #step} then reads and writes only that range.
   */
  public AdamW(ParameterLayout layout, Settings settings, Backend backend, long from, long to) {
    this(layout, settings, backend, from, to, null);
  }

  /**
   * As above, keeping parameters and moments bf16 values by {@code rounding} after each update, the
   * moments stored in bf16 (null: fp32 throughout).
   */
  public AdamW(
      ParameterLayout layout,
      Settings settings,
      Backend backend,
      long from,
      long to,
      StochasticRounding rounding) {
    this.rounding = rounding;
    if (from < 0 || to > layout.size() || from > to) {
      throw new IllegalArgumentException(
          "shard [" + from + ", " + to + ") outside [0, " + layout.size() + ")");
    }
    this.layout = layout;
    this.settings = settings;
    this.kernels = backend.kernels();
    this.from = from;
    this.to = to;
    long n = to - from;
    this.buffers = backend.buffers();
    if (rounding == null) {
      this.m = Moment.f32(buffers, buffers.allocate(Math.max(1, n)), n);
      this.v = Moment.f32(buffers, buffers.allocate(Math.max(1, n)), n);
    } else {
      this.m = Moment.bf16(buffers, n);
      this.v = Moment.bf16(buffers, n);
    }
  }

  /**
   * Bytes this optimizer allocated: its two moments, 4 bytes a parameter each (2 under bf16-sr).
   */
  public long stateBytes() {
    return 2 * (to - from) * m.dtype().bytes();
  }

  /** Updates taken so far. */
  public long steps() {
    return steps;
  }

  /**
   * Sets the count of updates taken, for resuming from a checkpoint (the bias corrections depend on
   * it); the moments are restored through {@link #firstMoment()} and {@link #secondMoment()}.
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
  public Moment firstMoment() {
    return m;
  }

  /** The second moment, laid out as {@link #firstMoment()}. */
  public Moment secondMoment() {
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
      AdamWUpdate update =
          new AdamWUpdate(
              (float) lr, decay, (float) b1, (float) b2, c1, c2, (float) settings.eps());
      View p = View.of(parameters, first);
      View g = View.of(gradients, first);
      if (rounding == null) {
        kernels.adamw(p, g, m.view(first - from), v.view(first - from), last - first, update);
      } else {
        kernels.adamwStochastic(
            p,
            g,
            m.view(first - from),
            v.view(first - from),
            last - first,
            update,
            new StochasticDraws(
                rounding.seed(steps, PARAMETERS),
                rounding.seed(steps, FIRST_MOMENT),
                rounding.seed(steps, SECOND_MOMENT),
                first));
      }
    }
  }

  @Override
  public void close() {
    buffers.close();
  }
}
