package dev.cria.engine.backend;

import dev.cria.engine.tensor.Bf16;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Buffers in this process's memory, from a shared arena (the kernels' worker threads read and write
 * them): what the CPU backends allocate.
 */
public final class HostBuffers implements Buffers {
  private static final AtomicLong LIVE = new AtomicLong();

  private final Arena arena = Arena.ofShared();
  private long bytes;

  @Override
  public synchronized Floats allocate(long floats) {
    if (floats < 0) {
      throw new IllegalArgumentException("a buffer of " + floats + " floats");
    }
    Floats f = Floats.allocate(arena, floats);
    bytes += floats * Float.BYTES;
    LIVE.addAndGet(floats * Float.BYTES);
    return f;
  }

  @Override
  public synchronized View allocate(DType dtype, long elements) {
    if (elements < 0) {
      throw new IllegalArgumentException(
          "a buffer of " + elements + " " + dtype.shortName() + " elements");
    }
    long size = elements * dtype.bytes();
    MemorySegment segment = arena.allocate(size, 64);
    bytes += size;
    LIVE.addAndGet(size);
    return new View(segment, 0, dtype);
  }

  @Override
  public void zero(View at, long count) {
    bytesOf(at, count).fill((byte) 0);
  }

  @Override
  public void copy(View from, View to, long count) {
    if (from.dtype() == to.dtype()) {
      MemorySegment.copy(
          from.buffer(),
          from.byteOffset(),
          to.buffer(),
          to.byteOffset(),
          count * from.dtype().bytes());
      return;
    }
    boolean widen = from.dtype() == DType.BF16 && to.dtype() == DType.F32;
    if (!widen && !(from.dtype() == DType.F32 && to.dtype() == DType.BF16)) {
      throw new IllegalArgumentException(
          "no conversion from " + from.dtype().shortName() + " to " + to.dtype().shortName());
    }
    MemorySegment source = bytesOf(from, count); // bounds, before writing anything
    if (source.asOverlappingSlice(bytesOf(to, count)).isPresent()) {
      throw new IllegalArgumentException(
          "a conversion's source and destination overlap (" + count + " elements)");
    }
    if (widen) {
      Bf16.widen(to.buffer(), to.offset(), from.buffer(), from.offset(), count);
    } else {
      Bf16.round(to.buffer(), to.offset(), from.buffer(), from.offset(), count);
    }
  }

  @Override
  public void upload(float[] values, View to) {
    if (to.dtype() == DType.F32) {
      MemorySegment.copy(values, 0, to.buffer(), Floats.F32, to.byteOffset(), values.length);
    } else {
      copy(View.f32(MemorySegment.ofArray(values), 0), to, values.length);
    }
  }

  @Override
  public void upload(int[] ids, View to) {
    to.require(DType.I32, "an upload's destination");
    MemorySegment.copy(ids, 0, to.buffer(), ValueLayout.JAVA_INT, to.byteOffset(), ids.length);
  }

  @Override
  public float[] download(View from, int count) {
    float[] out = new float[count];
    if (from.dtype() == DType.I32) {
      throw new IllegalArgumentException("ids are not downloaded as floats");
    }
    if (from.dtype() == DType.F32) {
      MemorySegment.copy(from.buffer(), Floats.F32, from.byteOffset(), out, 0, count);
    } else {
      copy(from, View.f32(MemorySegment.ofArray(out), 0), count);
    }
    return out;
  }

  /**
   * The first {@code n} ids of the i32 host view {@code view} as an array, or an exception naming
   * {@code operand}: how the host backends' kernels read a micro-batch's tokens and targets.
   */
  public static int[] ids(View view, int n, String operand) {
    view.require(DType.I32, operand);
    return view.buffer()
        .asSlice(view.byteOffset(), (long) n * Integer.BYTES)
        .toArray(ValueLayout.JAVA_INT);
  }

  private static MemorySegment bytesOf(View at, long count) {
    return at.buffer().asSlice(at.byteOffset(), count * at.dtype().bytes());
  }

  /** Bytes of every host buffer of this process not yet freed (what a rank's status reports). */
  public static long liveBytes() {
    return LIVE.get();
  }

  @Override
  public synchronized void close() {
    arena.close();
    LIVE.addAndGet(-bytes);
    bytes = 0;
  }
}
