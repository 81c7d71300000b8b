package dev.cria.train.compile;

import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ModelSlice;
import dev.cria.train.compile.MemoryPlan.Job;
import dev.cria.train.compile.MemoryPlan.Kind;
import dev.cria.train.compile.MemoryPlan.Settings;
import java.util.ArrayList;
import java.util.List;

/**
 * What would make a plan that does not fit fit, each a line a user can act on: {@code --recompute},
 * {@code --sequence-parallel}, a smaller micro-batch (with recompute or without), ZeRO-2 or 3, the
 * smallest tensor-parallel group within a host, more hosts; or why nothing cria can change will.
 * Each change is tried by planning the run with it.
 */
final class FitAdvice {
  private FitAdvice() {}

  /** The changes that make {@code plan}'s run fit, or why none does; empty when it fits. */
  static List<String> of(MemoryPlan plan) {
    Settings s = plan.settings();
    Job job = plan.job();
    List<String> out = new ArrayList<>();
    if (plan.fits()) {
      return out;
    }
    long floor =
        plan.bytes(Kind.PARAMETERS, 0)
            + MemoryPlan.RUNTIME_BYTES
            + plan.bytes(Kind.COMMUNICATION, 0)
            + plan.bytes(Kind.INDICES, 0);
    int world = job.worldSize();
    String split = null;
    boolean triedSplit = false; // a tensor-parallel group that could run, but does not fit
    // the smallest tensor-parallel group within a host (its collectives run in every layer)
    for (int tp = 2; s.tensorParallel() == 1 && split == null && tp <= job.ranksPerHost(); tp++) {
      boolean runs = job.ranksPerHost() % tp == 0 && world % tp == 0 && divides(s.shape(), tp);
      triedSplit |= runs;
      if (runs && fitsWith(s.withTensorParallel(tp), job)) {
        split =
            "--tensor-parallel "
                + tp
                + " ("
                + PlanReport.size(MemoryPlan.of(s.withTensorParallel(tp), job).largest())
                + ": each rank a 1/"
                + tp
                + " slice of every layer)";
      }
    }
    // ZeRO-3: the parameters sharded over the data-parallel ranks, a layer at a time whole
    String zero3 =
        plan.dataParallel() > 1 && s.zeroStage() < 3 && fitsWith(s.withZero(3), job)
            ? "--zero 3 (" + PlanReport.size(MemoryPlan.of(s.withZero(3), job).largest()) + ")"
            : null;
    // the parameters alone do not fit; under ZeRO-3 more ranks would shard them further
    if (floor > job.memoryPerProcess() && !plan.shardsParameters()) {
      if (split != null && zero3 != null) {
        out.add(zero3);
      }
      String spread = split == null && zero3 == null ? shardedOverMoreHosts(s, job) : null;
      out.add(
          split != null
              ? split
              : zero3 != null
                  ? zero3
                  : spread != null
                      ? spread
                      : "nothing cria can change: every rank holds "
                          + (s.tensorParallel() > 1 ? "" : "all ")
                          + PlanReport.size(plan.bytes(Kind.PARAMETERS, 0))
                          + " of parameters ("
                          + (s.tensorParallel() > 1 ? "its slice of the model; " : "")
                          + (triedSplit || s.tensorParallel() > 1
                              ? "tensor parallelism does not fit either; "
                              : "")
                          + "ZeRO-3 over up to "
                          + MAX_HOSTS
                          + " hosts does not fit either; "
                          + "pipeline parallelism is not built yet); a process needs more than "
                          + PlanReport.size(floor));
      return out;
    }
    if (!s.recompute() && fitsWith(s.withRecompute(), job)) {
      out.add(
          "--recompute (" + PlanReport.size(MemoryPlan.of(s.withRecompute(), job).largest()) + ")");
    }
    Settings sp = s.withSequenceParallel(true);
    if (s.tensorParallel() > 1 && !s.sequenceParallel() && fitsWith(sp, job)) {
      out.add("--sequence-parallel (" + PlanReport.size(MemoryPlan.of(sp, job).largest()) + ")");
    }
    for (boolean recompute : new boolean[] {s.recompute(), true}) {
      Settings base = recompute ? s.withRecompute() : s;
      for (int m = s.microBatch() / 2; m >= 1; m /= 2) {
        if (fitsWith(base.withMicroBatch(m), job)) {
          out.add(
              "--micro-batch "
                  + m
                  + (recompute && !s.recompute() ? " --recompute" : "")
                  + " ("
                  + PlanReport.size(MemoryPlan.of(base.withMicroBatch(m), job).largest())
                  + ")");
          break;
        }
      }
    }
    if (plan.dataParallel() > 1 && s.zeroStage() == 1 && fitsWith(s.withZero(2), job)) {
      out.add("--zero 2 (" + PlanReport.size(MemoryPlan.of(s.withZero(2), job).largest()) + ")");
    } else if (zero3 != null) {
      out.add(zero3);
    }
    if (split != null) {
      out.add(split);
    }
    Spread more =
        s.tensorParallel() == 1
            ? fewestHosts(List.of(s), job, world / job.ranksPerHost() + 1)
            : null;
    if (more != null) {
      out.add(
          more.hosts()
              + " hosts of "
              + job.ranksPerHost()
              + " rank(s) ("
              + more.job().worldSize()
              + " ranks: "
              + PlanReport.size(MemoryPlan.of(s, more.job()).largest())
              + " each, the AdamW moments"
              + (s.zeroStage() == 2
                  ? " and gradients"
                  : s.zeroStage() == 3 ? ", gradients and parameters" : "")
              + " sharded further)");
    }
    if (out.isEmpty()) {
      out.add(
          "none of --recompute, a smaller micro-batch, ZeRO-2 or 3, tensor parallelism or more"
              + " hosts alone");
    }
    return out;
  }

  /** The most hosts an advice considers. */
  private static final int MAX_HOSTS = 4096;

  /**
   * The fewest hosts like these over which ZeRO-3 (with recompute, then one sample a micro-batch,
   * when it takes them) fits a model whose parameters one rank cannot hold, as a line of advice;
   * null when none up to {@link #MAX_HOSTS} does.
   */
  private static String shardedOverMoreHosts(Settings s, Job job) {
    Spread spread =
        fewestHosts(
            List.of(
                s.withZero(3),
                s.withZero(3).withRecompute(),
                s.withZero(3).withRecompute().withMicroBatch(1)),
            job,
            job.worldSize() / job.ranksPerHost());
    if (spread == null) {
      return null;
    }
    Settings t = spread.settings();
    return String.format(
        java.util.Locale.ROOT,
        "--zero 3%s%s on %d host(s) of %d rank(s) (%d ranks: %s each, the parameters,"
            + " gradients and AdamW moments sharded)",
        t.recompute() && !s.recompute() ? " --recompute" : "",
        t.microBatch() != s.microBatch() ? " --micro-batch " + t.microBatch() : "",
        spread.hosts(),
        job.ranksPerHost(),
        spread.job().worldSize(),
        PlanReport.size(MemoryPlan.of(t, spread.job()).largest()));
  }

  /** A job spread over {@code hosts} hosts, and the settings it fits with. */
  private record Spread(int hosts, Job job, Settings settings) {}

  /**
   * The fewest hosts like {@code job}'s, from {@code fromHosts} to {@link #MAX_HOSTS}, on which one
   * of {@code tries} fits (the first that does, on that many); null when none does.
   */
  private static Spread fewestHosts(List<Settings> tries, Job job, int fromHosts) {
    for (int hosts = Math.max(1, fromHosts); hosts <= MAX_HOSTS; hosts++) {
      Job more = job.withWorld(hosts * job.ranksPerHost());
      for (Settings t : tries) {
        if (fitsWith(t, more)) {
          return new Spread(hosts, more, t);
        }
      }
    }
    return null;
  }

  /** Whether tensor parallelism {@code tp} divides what it cuts in {@code shape}. */
  private static boolean divides(LlamaConfig shape, int tp) {
    try {
      new ModelSlice(tp, 0).requireFits(shape);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static boolean fitsWith(Settings s, Job j) {
    return MemoryPlan.of(s, j).fits();
  }
}
