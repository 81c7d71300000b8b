package dev.cria.core.run;

import java.util.Comparator;
import java.util.List;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * A run as its ranks' status files show it at one moment: the job's progress and which ranks stand
 * out. A <b>straggler</b> is a training rank whose last step took more than 20% longer than the
 * median rank's; a <b>silent</b> rank has not updated its status (which it does on every step and
 * on a heartbeat) for longer than {@code silentAfter} seconds, three of its step times or six of
 * its heartbeats, whichever is longest, without having ended.
 *
 * @param ranks the statuses, by rank
 * @param nowMillis the moment, milliseconds since the epoch
 * @param silentAfterSeconds the least heartbeat age that counts as silent
 */
public record RunView(List<RankStatus> ranks, long nowMillis, double silentAfterSeconds) {
  /** How much slower than the median a straggler is. */
  public static final double STRAGGLER_FACTOR = 1.2;

  public RunView {
    ranks = List.copyOf(ranks);
  }

  /** The median of the ranks' last step times (NaN before any step). */
  public double medianStepSeconds() {
    double[] t =
        ranks.stream()
            .mapToDouble(RankStatus::stepSeconds)
            .filter(Double::isFinite)
            .sorted()
            .toArray();
    if (t.length == 0) {
      return Double.NaN;
    }
    return t.length % 2 == 1 ? t[t.length / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
  }

  /** Whether {@code r} is training more than 20% slower than the median rank. */
  public boolean straggler(RankStatus r) {
    double median = medianStepSeconds();
    return ranks.size() > 1
        && r.state() == RankState.TRAINING
        && Double.isFinite(r.stepSeconds())
        && r.stepSeconds() > STRAGGLER_FACTOR * median;
  }

  /**
   * Whether {@code r} has gone quiet without ending: no update for {@code silentAfterSeconds},
   * three of its step times or six of its heartbeats, whichever is longest (its peers judge it
   * silent after six heartbeats).
   */
  public boolean silent(RankStatus r) {
    double limit =
        Math.max(
            silentAfterSeconds,
            Math.max(
                Double.isFinite(r.stepSeconds()) ? 3 * r.stepSeconds() : 0,
                Double.isFinite(r.heartbeatSeconds()) ? 6 * r.heartbeatSeconds() : 0));
    return !r.state().ended() && r.ageSeconds(nowMillis) > limit;
  }

  /** The rank the job's numbers come from: rank 0, else the lowest one that reported. */
  public RankStatus lead() {
    return ranks.stream().min(Comparator.comparingInt(RankStatus::rank)).orElse(null);
  }

  /** Steps the slowest rank has completed. */
  public long step() {
    return ranks.stream().mapToLong(RankStatus::step).min().orElse(0);
  }

  /** Seconds since the first rank started. */
  public double elapsedSeconds() {
    return ranks.stream().mapToLong(RankStatus::startedAt).min().stream()
        .mapToDouble(t -> Math.max(0, nowMillis - t) / 1e3)
        .findFirst()
        .orElse(0);
  }

  /** Seconds to max_steps at the median step time (NaN when unknown). */
  public double etaSeconds() {
    RankStatus lead = lead();
    return lead == null ? Double.NaN : (lead.maxSteps() - step()) * medianStepSeconds();
  }

  /** Whether every rank has ended. */
  public boolean ended() {
    return !ranks.isEmpty() && ranks.stream().allMatch(r -> r.state().ended());
  }

  /** The view as one JSON object ({@code cria top --json}): the job's numbers and every rank's. */
  public String toJson() {
    return toTree().toString();
  }

  /** The view as a JSON tree, for callers that add to it (the board adds the log tails). */
  public ObjectNode toTree() {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    RankStatus lead = lead();
    o.put("run", lead == null ? null : lead.run());
    o.put("step", step());
    o.put("max_steps", lead == null ? 0 : lead.maxSteps());
    StatusFiles.number(o, "eta_seconds", etaSeconds());
    StatusFiles.number(o, "elapsed_seconds", elapsedSeconds());
    StatusFiles.number(o, "loss", lead == null ? Double.NaN : lead.loss());
    StatusFiles.number(o, "tokens_per_sec", lead == null ? Double.NaN : lead.tokensPerSec());
    StatusFiles.number(o, "mfu", lead == null ? Double.NaN : lead.mfu());
    StatusFiles.number(o, "median_step_seconds", medianStepSeconds());
    o.put("ended", ended());
    ArrayNode rows = o.putArray("ranks");
    for (RankStatus r : ranks) {
      ObjectNode row = StatusFiles.toTree(r);
      row.remove("format");
      row.put("heartbeat_age_seconds", r.ageSeconds(nowMillis));
      row.put("straggler", straggler(r));
      row.put("silent", silent(r));
      rows.add(row);
    }
    return o;
  }
}
