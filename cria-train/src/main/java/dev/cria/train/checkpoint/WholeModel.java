package dev.cria.train.checkpoint;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.io.SliceCopy;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import dev.cria.engine.tensor.View;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A model split by tensor parallelism or ZeRO-3, gathered whole on the job's rank 0 a tensor at a
 * time, with its AdamW moments (from the ranks' slices and, beside data parallelism, from the
 * data-parallel ranks' shards of each slice's moments, and of its parameters under ZeRO-3), so that
 * a checkpoint holds whole tensors as one rank's would, whatever the layout that saved it (and any
 * layout can resume it, {@link StartingWeights} cutting each rank's slice and shards back out).
 *
 * <p>Every rank of the job calls {@link #gather} for each tensor of the whole model, in order: the
 * first replica's rank of each slice broadcasts its part of the tensor, then every rank of that
 * slice its shards of each moment, and rank 0 puts them in place ({@link SliceCopy}) and writes the
 * tensor out before the next one comes. Rank 0 holds one whole tensor and its two moments at a time
 * (the largest, the embeddings: 1.6 GB for Llama-2-7B), every rank a buffer of its slice of the
 * largest tensor; nobody holds the whole model. The broadcasts go over the job's group, so every
 * rank receives what rank 0 needs: simple, and a cost paid per save.
 */
public final class WholeModel implements AutoCloseable {
  private final Collective job;
  private final ParallelDims dims;
  private final LlamaModel model;
  private final List<AdamW> mine; // this rank's optimizer, over its shards of its slice
  private final List<List<ParameterLayout.Range>> shards; // by data rank: its optimizer's ranges
  private final boolean shardedParameters; // ZeRO-3: a rank holds only its shards of its slice
  private final ParameterLayout layout;
  private final List<ParameterLayout> slices; // each tensor rank's slice's layout
  private final Buffers buffers; // the backend's, so the run's count of its tensors has these
  private final MemorySegment received; // a slice of a tensor, or its moments, as they come
  private final MemorySegment parameters; // rank 0: the tensor gathered last
  private final MemorySegment first;
  private final MemorySegment second;

  private WholeModel(
      LlamaModel model,
      List<AdamW> mine,
      Collective job,
      ParallelDims dims,
      List<List<ParameterLayout.Range>> shards,
      boolean shardedParameters,
      Backend backend) {
    this.job = job;
    this.shardedParameters = shardedParameters;
    this.dims = dims;
    this.model = model;
    this.mine = List.copyOf(mine);
    this.shards = List.copyOf(shards);
    this.layout = new ParameterLayout(model.config());
    List<ParameterLayout> theirs = new ArrayList<>();
    for (int t = 0; t < dims.tensorParallel(); t++) {
      theirs.add(
          t == model.slice().index()
              ? model.layout()
              : new ParameterLayout(model.config(), new ModelSlice(dims.tensorParallel(), t)));
    }
    this.slices = List.copyOf(theirs);
    this.buffers = backend.buffers();
    this.received = buffers.allocate(model.layout().largestTensor()).segment();
    long whole = layout.largestTensor();
    this.parameters = job.rank() == 0 ? buffers.allocate(whole).segment() : null;
    this.first = job.rank() == 0 ? buffers.allocate(whole).segment() : null;
    this.second = job.rank() == 0 ? buffers.allocate(whole).segment() : null;
  }

  /**
   * For {@code model}, split over the tensor-parallel groups of {@code job} laid out as {@code
   * dims}, whose optimizer is {@code optimizer}: over {@code shards.get(d)} on a rank of data rank
   * {@code d} (the data-parallel group's shards of the slice, or the whole slice for one replica).
   * With {@code shardedParameters} (ZeRO-3) a rank holds the values of its shards' parameters only.
   */
  public static WholeModel of(
      LlamaModel model,
      List<AdamW> optimizer,
      Collective job,
      ParallelDims dims,
      List<List<ParameterLayout.Range>> shards,
      boolean shardedParameters,
      Backend backend) {
    if (model.slice().parts() != dims.tensorParallel() || job.worldSize() != dims.worldSize()) {
      throw new IllegalArgumentException(
          "the model is cut in "
              + model.slice().parts()
              + " slices, the job's "
              + job.worldSize()
              + " ranks are laid out as "
              + dims);
    }
    if (shards.size() != dims.dataParallel()) {
      throw new IllegalArgumentException(
          shards.size() + " lists of shards for " + dims.dataParallel() + " data-parallel ranks");
    }
    List<ParameterLayout.Range> own = shards.get(dims.dataRank(job.rank()));
    boolean matches = optimizer.size() == own.size();
    for (int i = 0; matches && i < own.size(); i++) {
      matches =
          optimizer.get(i).from() == own.get(i).from() && optimizer.get(i).to() == own.get(i).to();
    }
    if (!matches) {
      throw new IllegalArgumentException(
          "this rank's optimizer is not over its data-parallel shards " + own);
    }
    return new WholeModel(model, optimizer, job, dims, shards, shardedParameters, backend);
  }

  /** Whether this rank gets each tensor whole from {@link #gather} (the job's rank 0). */
  public boolean holdsIt() {
    return job.rank() == 0;
  }

  /** The whole model's layout, whose tensors {@link #gather} takes by index. */
  public ParameterLayout layout() {
    return layout;
  }

  /** AdamW's update count, the same on every rank. */
  public long optimizerSteps() {
    return mine.getFirst().steps();
  }

  /**
   * Every rank of the job calls it together: rank 0 gets tensor {@code index} of {@link #layout()}
   * whole in {@link #parameters(int)} and, with {@code moments}, its AdamW moments in {@link
   * #firstMoment(int)} and {@link #secondMoment(int)}, as the ranks hold them now.
   */
  public void gather(int index, boolean moments) {
    ParameterLayout.Tensor w = layout.tensors().get(index);
    // a tensor every slice holds whole (as a slice's layout says: the whole one cuts nothing) is
    // taken from the first slice
    boolean cut = slices.getFirst().tensor(w.name()).split() != ParameterLayout.Split.NONE;
    int parts = cut ? dims.tensorParallel() : 1;
    for (int t = 0; t < parts; t++) {
      ParameterLayout piece = slices.get(t);
      ParameterLayout.Tensor s = piece.tensor(w.name());
      if (shardedParameters) {
        gatherShards(t, s, Part.PARAMETERS);
      } else {
        gatherSlice(t, piece, s, w);
      }
      if (moments) {
        gatherShards(t, s, Part.FIRST);
        gatherShards(t, s, Part.SECOND);
      }
    }
  }

  /** What {@link #gatherShards} gathers. */
  private enum Part {
    PARAMETERS,
    FIRST,
    SECOND
  }

  /** Slice {@code t}'s part {@code s} of tensor {@code w}, whole on the first replica's rank. */
  private void gatherSlice(
      int t, ParameterLayout piece, ParameterLayout.Tensor s, ParameterLayout.Tensor w) {
    long bytes = s.size() * Float.BYTES;
    int root = dims.rankOf(0, t);
    MemorySegment part =
        root == job.rank()
            ? model.parameters().segment().asSlice(s.offset() * Float.BYTES, bytes)
            : received.asSlice(0, bytes);
    if (root != 0) { // rank 0's own slice needs no trip
      job.broadcast(part, bytes, root);
    }
    if (parameters != null) {
      SliceCopy.toWholeTensor(piece, s, part, w, parameters);
    }
  }

  /**
   * One part (parameters or a moment) of slice {@code t}'s part {@code s}, from each data rank's
   * shards of it.
   */
  private void gatherShards(int t, ParameterLayout.Tensor s, Part what) {
    for (int d = 0; d < dims.dataParallel(); d++) {
      int root = dims.rankOf(d, t);
      List<ParameterLayout.Range> ranges = shards.get(d);
      for (int i = 0; i < ranges.size(); i++) {
        ParameterLayout.Range r = ranges.get(i);
        long lo = Math.max(r.from(), s.offset());
        long hi = Math.min(r.to(), s.end());
        if (lo >= hi) {
          continue;
        }
        MemorySegment into =
            received.asSlice((lo - s.offset()) * Float.BYTES, (hi - lo) * Float.BYTES);
        if (root == job.rank()) {
          AdamW own = mine.get(i);
          switch (what) { // moments as floats, widened when bf16-sr stores them in bf16
            case PARAMETERS ->
                MemorySegment.copy(
                    model.parameters().segment(), lo * Float.BYTES, into, 0, into.byteSize());
            case FIRST -> own.firstMoment().copyTo(lo - r.from(), View.f32(into, 0), hi - lo);
            case SECOND -> own.secondMoment().copyTo(lo - r.from(), View.f32(into, 0), hi - lo);
          }
        }
        if (root != 0) {
          job.broadcast(into, into.byteSize(), root);
        }
      }
    }
    if (parameters != null) {
      ParameterLayout.Tensor w = layout.tensor(s.name());
      SliceCopy.toWholeTensor(
          slices.get(t),
          s,
          received.asSlice(0, s.size() * Float.BYTES),
          w,
          switch (what) {
            case PARAMETERS -> parameters;
            case FIRST -> first;
            case SECOND -> second;
          });
    }
  }

  /** Rank 0: tensor {@code index}'s parameters, as the last {@link #gather} of it left them. */
  public MemorySegment parameters(int index) {
    return whole(parameters, index);
  }

  /** Rank 0: tensor {@code index}'s first AdamW moment. */
  public MemorySegment firstMoment(int index) {
    return whole(first, index);
  }

  /** Rank 0: tensor {@code index}'s second AdamW moment. */
  public MemorySegment secondMoment(int index) {
    return whole(second, index);
  }

  private MemorySegment whole(MemorySegment buffer, int index) {
    if (buffer == null) {
      throw new IllegalStateException("only the job's rank 0 gathers the tensors");
    }
    return buffer.asSlice(0, layout.tensors().get(index).size() * Float.BYTES);
  }

  /**
   * Every rank of the job calls it together: rank 0 writes the whole model's parameters to {@code
   * file} as F32 safetensors with Hugging Face names, a tensor at a time (the initial weights of a
   * tensor-parallel run).
   */
  public void writeParameters(Path file, Map<String, String> metadata) throws IOException {
    List<ParameterLayout.Tensor> tensors = layout.tensors();
    try (SafetensorsWriter.Streamed out =
        holdsIt() ? SafetensorsWriter.streamed(file, specs(layout), metadata) : null) {
      for (int i = 0; i < tensors.size(); i++) {
        gather(i, false);
        if (out != null) {
          out.append(parameters(i));
        }
      }
      if (out != null) {
        out.finish();
      }
    }
  }

  /** The shapes safetensors files give {@code layout}'s tensors (norm weights one-dimensional). */
  static List<SafetensorsWriter.Spec> specs(ParameterLayout layout) {
    List<SafetensorsWriter.Spec> specs = new ArrayList<>();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      specs.add(
          new SafetensorsWriter.Spec(
              t.name(), t.rows() == 1 ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()}));
    }
    return specs;
  }

  @Override
  public void close() {
    buffers.close();
  }
}
