package dev.cria.engine.cpu;

import dev.cria.engine.tensor.Bf16;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * fp32 to bf16 and back with the Vector API on every thread of a pool: the same bits as {@link
 * Bf16}'s plain loops (round to nearest, ties to even; NaN stays NaN), at memory speed; and the
 * stochastic rounding of bf16-sr, whose draws ({@link Bf16#noise16}) are 64-bit integer hashes
 * computed a vector of longs at a time, so exactly the scalar's bits.
 */
final class Bf16Vectors {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Short> S =
      VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();
  // stochastic rounding: a vector of longs (the draws) and the floats it rounds, as many lanes
  private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> LANES =
      VectorSpecies.of(int.class, VectorShape.forBitSize(LONGS.vectorBitSize() / 2));
  private static final VectorSpecies<Float> FLOATS =
      VectorSpecies.of(float.class, VectorShape.forBitSize(LONGS.vectorBitSize() / 2));

  /** Elements per task, a multiple of every vector length. */
  private static final int CHUNK = 1 << 16;

  private Bf16Vectors() {}

  /** Rounds {@code count} floats of {@code src} into bf16 {@code dst} (offsets in elements). */
  static void round(
      Parallel parallel,
      MemorySegment dst,
      long dstOff,
      MemorySegment src,
      long srcOff,
      long count) {
    forChunks(parallel, count, (from, to) -> round(dst, dstOff, src, srcOff, from, to));
  }

  /** Elements {@code [from, to)} of {@link #round}'s, on this thread. */
  static void round(
      MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long from, long to) {
    long i = from;
    long bound = from + F.loopBound(to - from);
    for (; i < bound; i += F.length()) {
      store(
          FloatVector.fromMemorySegment(F, src, (srcOff + i) * Float.BYTES, ORDER),
          dst,
          dstOff + i);
    }
    Bf16.round(dst, dstOff + i, src, srcOff + i, to - i);
  }

  /**
   * Rounds the lanes of {@code v} (a vector of the preferred species, as the kernels use) to bf16
   * and stores them at element {@code dstOff} of {@code dst}: what a kernel that writes bf16 does
   * instead of storing its fp32 vector.
   */
  static void store(FloatVector v, MemorySegment dst, long dstOff) {
    ((ShortVector) nearest(v.reinterpretAsInts()).convertShape(VectorOperators.I2S, S, 0))
        .intoMemorySegment(dst, dstOff * Bf16.BYTES, ORDER);
  }

  /** The bf16 nearest each lane's float bits, in the lane's low 16 bits: {@link Bf16#round}. */
  private static IntVector nearest(IntVector bits) {
    IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
    IntVector rounded = bits.add(0x7fff).add(high.and(1)).lanewise(VectorOperators.LSHR, 16);
    VectorMask<Integer> nan = bits.and(0x7fff_ffff).compare(VectorOperators.GT, 0x7f80_0000);
    return rounded.blend(high.or(0x0040), nan);
  }

  /** Widens {@code count} bf16 elements of {@code src} into floats {@code dst}. */
  static void widen(
      Parallel parallel,
      MemorySegment dst,
      long dstOff,
      MemorySegment src,
      long srcOff,
      long count) {
    forChunks(
        parallel,
        count,
        (from, to) -> {
          long i = from;
          long bound = from + S.loopBound(to - from);
          for (; i < bound; i += S.length()) {
            widen(src, srcOff + i).intoMemorySegment(dst, (dstOff + i) * Float.BYTES, ORDER);
          }
          Bf16.widen(dst, dstOff + i, src, srcOff + i, to - i);
        });
  }

  /**
   * The bf16 elements {@code [off, off + lanes)} of {@code src} widened (exact), as a vector of the
   * preferred species: what a kernel that reads bf16 loads.
   */
  static FloatVector widen(MemorySegment src, long off) {
    ShortVector s = ShortVector.fromMemorySegment(S, src, off * Bf16.BYTES, ORDER);
    return ((IntVector) s.convertShape(VectorOperators.S2I, I, 0))
        .lanewise(VectorOperators.LSHL, 16)
        .reinterpretAsFloats();
  }

  /**
   * Rounds {@code count} floats of {@code x} from {@code off} in place to bf16 values,
   * stochastically, element i drawing {@link Bf16#noise16}{@code (seed, firstIndex + i)}: {@link
   * Bf16#roundStochastic}'s bits, a vector at a time.
   */
  static void roundStochastic(
      Parallel parallel, MemorySegment x, long off, long count, long seed, long firstIndex) {
    forChunks(parallel, count, (from, to) -> roundStochastic(x, off, from, to, seed, firstIndex));
  }

  /** Elements {@code [from, to)} of {@link #roundStochastic}'s, on this thread. */
  static void roundStochastic(
      MemorySegment x, long off, long from, long to, long seed, long firstIndex) {
    LongVector lane = (LongVector) LONGS.iotaShuffle(0, 1, false).toVector();
    long i = from;
    long bound = from + LONGS.loopBound(to - from);
    for (; i < bound; i += LONGS.length()) {
      long at = (off + i) * Float.BYTES;
      roundStochastic(
              FloatVector.fromMemorySegment(FLOATS, x, at, ORDER),
              draws(lane, firstIndex + i, seed))
          .intoMemorySegment(x, at, ORDER);
    }
    for (; i < to; i++) {
      float v = x.getAtIndex(ValueLayout.JAVA_FLOAT, off + i);
      x.setAtIndex(
          ValueLayout.JAVA_FLOAT,
          off + i,
          Bf16.roundStochastic(v, Bf16.noise16(seed, firstIndex + i)));
    }
  }

  /**
   * The draws of the elements {@code index + lane} under {@code seed} ({@link Bf16#noise16}, a lane
   * each): SplitMix64's finalizer of {@code seed + index * golden ratio}, 16 bits kept.
   */
  private static IntVector draws(LongVector lanes, long index, long seed) {
    LongVector z = lanes.add(index).mul(0x9E37_79B9_7F4A_7C15L).add(seed);
    z =
        z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30))
            .mul(0xBF58_476D_1CE4_E5B9L);
    z =
        z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27))
            .mul(0x94D0_49BB_1331_11EBL);
    z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
    return (IntVector)
        z.lanewise(VectorOperators.LSHR, 48).convertShape(VectorOperators.L2I, LANES, 0);
  }

  /**
   * {@code x} rounded to bf16 values by {@code draws}, lane by lane: {@link Bf16#roundStochastic}.
   */
  private static FloatVector roundStochastic(FloatVector x, IntVector draws) {
    IntVector bits = x.reinterpretAsInts();
    VectorMask<Integer> special = // infinities and NaN stay as they are
        bits.and(0x7f80_0000).compare(VectorOperators.EQ, 0x7f80_0000);
    return bits.add(draws).and(0xffff_0000).blend(bits, special).reinterpretAsFloats();
  }

  private interface Span {
    void run(long from, long to);
  }

  private static void forChunks(Parallel parallel, long count, Span span) {
    if (count <= CHUNK) {
      span.run(0, count);
      return;
    }
    int chunks = Math.toIntExact((count + CHUNK - 1) / CHUNK);
    parallel.forEach(
        chunks,
        (task, worker) ->
            span.run((long) task * CHUNK, Math.min(count, (long) (task + 1) * CHUNK)));
  }
}
