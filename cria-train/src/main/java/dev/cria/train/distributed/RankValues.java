package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Small values the ranks of a group agree on: sums and means of one number (a loss, a count) and
 * whether any rank asks to stop or save. For one rank each is the value itself, exactly; in a group
 * the sum is taken in float, the same on every rank. One segment is reused, so nothing is allocated
 * per step.
 */
public final class RankValues {
  private final Collective group;
  private final MemorySegment scalar = Arena.ofAuto().allocate(2 * Float.BYTES);

  public RankValues(Collective group) {
    this.group = group;
  }

  /** The sum of {@code value} over the ranks. */
  public double sum(double value) {
    if (group.worldSize() == 1) {
      return value;
    }
    scalar.set(ValueLayout.JAVA_FLOAT, 0, (float) value);
    group.allReduceSum(scalar, 1);
    return scalar.get(ValueLayout.JAVA_FLOAT, 0);
  }

  /** The mean of {@code value} over the ranks. */
  public double mean(double value) {
    return group.worldSize() == 1 ? value : sum(value) / group.worldSize();
  }

  /** The sums of two values over the ranks, in one collective. */
  public double[] sums(double first, double second) {
    if (group.worldSize() == 1) {
      return new double[] {first, second};
    }
    scalar.set(ValueLayout.JAVA_FLOAT, 0, (float) first);
    scalar.set(ValueLayout.JAVA_FLOAT, Float.BYTES, (float) second);
    group.allReduceSum(scalar, 2);
    return new double[] {
      scalar.get(ValueLayout.JAVA_FLOAT, 0), scalar.get(ValueLayout.JAVA_FLOAT, Float.BYTES)
    };
  }

  /**
   * Whether any rank says {@code first}, and whether any says {@code second}, in one collective: so
   * that every rank stops (or saves) after the same step; one alone would leave the others waiting.
   */
  public boolean[] any(boolean first, boolean second) {
    if (group.worldSize() == 1) {
      return new boolean[] {first, second};
    }
    scalar.set(ValueLayout.JAVA_FLOAT, 0, first ? 1 : 0);
    scalar.set(ValueLayout.JAVA_FLOAT, Float.BYTES, second ? 1 : 0);
    group.allReduceSum(scalar, 2);
    return new boolean[] {
      scalar.get(ValueLayout.JAVA_FLOAT, 0) > 0, scalar.get(ValueLayout.JAVA_FLOAT, Float.BYTES) > 0
    };
  }
}
