package dev.cria.train.checkpoint;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Buffers;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.SliceCopy;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The whole model's parameters and AdamW moments, gathered on the job's rank 0 from the ranks'
 * slices (and, with data parallelism beside tensor parallelism, from the data-parallel ranks'
 * shards of each slice's moments), so that a checkpoint holds whole tensors as one rank's would,
 * whatever the layout that saved it (and any layout can resume it, {@link StartingWeights} cutting
 * each rank's slice and shards back out).
 *
 * <p>In turn, the first replica's rank of each slice broadcasts its parameters, then every rank of
 * that slice its shards of each moment, and rank 0 puts them in place ({@link SliceCopy}). Rank 0
 * holds the whole model and its moments besides its slice, three floats a parameter of the whole
 * model: fine for a model one machine holds, and the limit of this way of saving (a checkpoint
 * written slice by slice, each rank its own part of each tensor, is left to do). The broadcasts go
 * over the job's group, so every rank receives what rank 0 needs: simple, and a cost paid per save.
 */
public final class WholeModel implements AutoCloseable {
  private final Collective job;
  private final ParallelDims dims;
  private final LlamaModel model;
  private final List<AdamW> mine; // this rank's optimizer, over its shards of its slice
  private final List<List<ParameterLayout.Range>> shards; // by data rank: its optimizer's ranges
  private final ParameterLayout layout;
  private final List<ParameterLayout> slices; // rank 0: each tensor rank's slice's layout
  private final Buffers buffers; // the backend's, so the run's count of its tensors has these
  private final Floats received; // a slice, or its moments, as the broadcasts bring them
  private final Floats parameters; // rank 0
  private final AdamW optimizer; // rank 0: the whole model's moments

  private WholeModel(
      LlamaModel model,
      List<AdamW> mine,
      Collective job,
      ParallelDims dims,
      List<List<ParameterLayout.Range>> shards,
      AdamW.Settings settings,
      Backend backend) {
    this.job = job;
    this.dims = dims;
    this.model = model;
    this.mine = List.copyOf(mine);
    this.shards = List.copyOf(shards);
    this.layout = new ParameterLayout(model.config());
    this.buffers = backend.buffers();
    this.received = buffers.allocate(model.layout().size());
    this.parameters = job.rank() == 0 ? buffers.allocate(layout.size()) : null;
    this.optimizer = job.rank() == 0 ? new AdamW(layout, settings, backend) : null;
    List<ParameterLayout> theirs = new java.util.ArrayList<>();
    for (int t = 0; job.rank() == 0 && t < dims.tensorParallel(); t++) {
      theirs.add(
          t == 0
              ? model.layout()
              : new ParameterLayout(model.config(), new ModelSlice(dims.tensorParallel(), t)));
    }
    this.slices = List.copyOf(theirs);
  }

  /**
   * For {@code model}, split over the tensor-parallel groups of {@code job} laid out as {@code
   * dims}, whose optimizer is {@code optimizer}: over {@code shards.get(d)} on a rank of data rank
   * {@code d} (the data-parallel group's shards of the slice, or the whole slice for one replica).
   */
  public static WholeModel of(
      LlamaModel model,
      List<AdamW> optimizer,
      Collective job,
      ParallelDims dims,
      List<List<ParameterLayout.Range>> shards,
      AdamW.Settings settings,
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
    return new WholeModel(model, optimizer, job, dims, shards, settings, backend);
  }

  /** Whether this rank holds the whole model once {@link #gather} returns (the job's rank 0). */
  public boolean holdsIt() {
    return job.rank() == 0;
  }

  /**
   * Every rank of the job calls it together: rank 0's whole parameters and moments become the
   * model's as its ranks hold them now.
   */
  public void gather() {
    long bytes = model.layout().size() * Float.BYTES;
    for (int t = 0; t < dims.tensorParallel(); t++) {
      int root = dims.rankOf(0, t);
      Floats from = root == job.rank() ? model.parameters() : received;
      if (root != 0) { // rank 0's own slice needs no trip
        job.broadcast(from.segment(), bytes, root);
      }
      if (parameters != null) {
        SliceCopy.toWhole(slices.get(t), from, layout, parameters);
      }
    }
    gatherMoments(true);
    gatherMoments(false);
    if (optimizer != null) {
      optimizer.restoreSteps(mine.getFirst().steps());
    }
  }

  /** One moment of every slice, each put together from its data-parallel ranks' shards. */
  private void gatherMoments(boolean first) {
    for (int t = 0; t < dims.tensorParallel(); t++) {
      for (int d = 0; d < dims.dataParallel(); d++) {
        int root = dims.rankOf(d, t);
        List<ParameterLayout.Range> ranges = shards.get(d);
        for (int i = 0; i < ranges.size(); i++) {
          ParameterLayout.Range r = ranges.get(i);
          MemorySegment into =
              received.segment().asSlice(r.from() * Float.BYTES, r.size() * Float.BYTES);
          if (root == job.rank()) {
            AdamW part = mine.get(i);
            MemorySegment own = (first ? part.firstMoment() : part.secondMoment()).segment();
            MemorySegment.copy(own, 0, into, 0, into.byteSize());
          }
          if (root != 0) {
            job.broadcast(into, into.byteSize(), root);
          }
        }
      }
      if (optimizer != null) {
        SliceCopy.toWhole(
            slices.get(t),
            received,
            layout,
            first ? optimizer.firstMoment() : optimizer.secondMoment());
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
