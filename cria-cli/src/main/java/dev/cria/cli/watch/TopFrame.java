package dev.cria.cli.watch;

import dev.cria.cli.progress.StatusLine;
import dev.cria.core.run.RankStatus;
import dev.cria.core.run.RunView;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * One screen of {@code cria top}: a header with the job's progress, trend lines of the loss and
 * tokens/s and what the model computes in, then a row per rank; stragglers and silent ranks are
 * marked in words (and, on a colour terminal, in colour). Pure text from a {@link RunView}; what
 * draws it is {@link TopCommand}.
 */
final class TopFrame {
  /** How the rows are ordered; {@code s} cycles through them. */
  enum Sort {
    RANK("rank", Comparator.comparingInt(RankStatus::rank)),
    STEP_TIME("step time", Comparator.comparingDouble((RankStatus r) -> -finite(r.stepSeconds()))),
    HEARTBEAT("heartbeat", Comparator.comparingLong(RankStatus::updatedAt));

    final String label;
    final Comparator<RankStatus> order;

    Sort(String label, Comparator<RankStatus> order) {
      this.label = label;
      this.order = order;
    }

    Sort next() {
      return values()[(ordinal() + 1) % values().length];
    }
  }

  private static final DateTimeFormatter CLOCK =
      DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());
  private static final String BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588";
  private static final String PLAIN_BARS = "_.-:=+*#";

  private TopFrame() {}

  /**
   * The screen's lines, each at most {@code width} characters.
   *
   * @param loss recent losses, oldest first (the trend line)
   * @param tokens recent job tokens/s, oldest first
   * @param fancy Unicode trend lines and ANSI colour
   */
  static List<String> render(
      RunView view,
      String runName,
      Sort sort,
      boolean paused,
      List<Double> loss,
      List<Double> tokens,
      int width,
      boolean fancy) {
    List<String> lines = new ArrayList<>();
    RankStatus lead = view.lead();
    String keys = paused ? "paused; space resumes" : "q quit, s sort, space pause";
    lines.add(
        String.format(
            Locale.ROOT,
            "cria top  %s  %s  (%s; sort: %s; %s)",
            runName,
            CLOCK.format(Instant.ofEpochMilli(view.nowMillis())),
            view.ranks().size() + " rank(s)",
            sort.label,
            keys));
    if (lead == null) {
      lines.add(
          "no rank has written its status.json yet: the run is starting, or it is not a cria run");
      return clip(lines, width);
    }
    lines.add(
        String.format(
            Locale.ROOT,
            "step %d/%d  ETA %s  elapsed %s  state %s%s",
            view.step(),
            lead.maxSteps(),
            StatusLine.duration(view.etaSeconds()),
            StatusLine.duration(view.elapsedSeconds()),
            lead.state().label(),
            view.ended() ? " (the run has ended)" : ""));
    lines.add(
        String.format(
            Locale.ROOT,
            "loss %s %s   tokens/s %s %s   MFU %s",
            number("%.4f", lead.loss()),
            trend(loss, 20, fancy),
            Double.isFinite(lead.tokensPerSec()) ? StatusLine.count(lead.tokensPerSec()) : "-",
            trend(tokens, 20, fancy),
            percent(lead.mfu())));
    if (lead.precision() != null) {
      lines.add("precision " + lead.precision() + "   matmul " + lead.matmul());
    }
    // tensor parallelism: a column with each rank's replica and slice
    RankStatus.Parallel layout = lead.parallel();
    boolean split = layout != null && layout.tensorParallel() > 1;
    if (split) {
      lines.add(
          String.format(
              Locale.ROOT,
              "layout dp %d x tp %d   (DP.TP: a rank's replica and its slice of the model)",
              layout.dataParallel(),
              layout.tensorParallel()));
    }
    lines.add("");
    lines.add(
        String.format(
            Locale.ROOT,
            "%4s "
                + (split ? "%-6s " : "%s")
                + "%-14s %-10s %7s %7s %8s %6s %7s %5s %8s %8s %9s  %s",
            "RANK",
            split ? "DP.TP" : "",
            "HOST",
            "STATE",
            "STEP",
            "STEP_T",
            "TOK/S",
            "MFU",
            "COMM_W",
            "CPU",
            "RSS",
            "OFF-HEAP",
            "HEARTBEAT",
            "NOTE"));
    List<RankStatus> rows = new ArrayList<>(view.ranks());
    rows.sort(sort.order.thenComparingInt(RankStatus::rank));
    for (RankStatus r : rows) {
      String note =
          view.silent(r)
              ? "SILENT"
              : view.straggler(r) ? "STRAGGLER" : r.lastError() != null ? r.lastError() : "";
      String row =
          String.format(
              Locale.ROOT,
              "%4d "
                  + (split ? "%-6s " : "%s")
                  + "%-14s %-10s %7d %7s %8s %6s %7s %5s %8s %8s %9s  %s",
              r.rank(),
              !split ? "" : r.parallel() == null ? "-" : place(r.parallel()),
              truncate(r.host(), 14),
              r.state().label(),
              r.step(),
              number("%.2fs", r.stepSeconds()),
              Double.isFinite(r.tokensPerSec())
                  ? StatusLine.count(r.tokensPerSec() / Math.max(1, r.worldSize()))
                  : "-",
              percent(r.mfu()),
              number("%.2fs", r.communicationWaitSeconds()),
              percent(r.cpuLoad()),
              bytes(r.rssBytes()),
              bytes(r.offHeapBytes()),
              String.format(Locale.ROOT, "%.1fs ago", r.ageSeconds(view.nowMillis())),
              note);
      if (fancy && note.equals("SILENT")) {
        row = "\033[31m" + clipOne(row, width) + "\033[0m";
      } else if (fancy && note.equals("STRAGGLER")) {
        row = "\033[33m" + clipOne(row, width) + "\033[0m";
      }
      lines.add(row);
    }
    return clip(lines, width);
  }

  /** {@code "1.0"}: replica 1, slice 0. */
  private static String place(RankStatus.Parallel p) {
    return p.dataRank() + "." + p.tensorRank();
  }

  private static double finite(double v) {
    return Double.isFinite(v) ? v : 0;
  }

  /** A sparkline of the last {@code n} values, scaled between their least and greatest. */
  static String trend(List<Double> values, int n, boolean fancy) {
    String bars = fancy ? BARS : PLAIN_BARS;
    List<Double> last =
        values.subList(Math.max(0, values.size() - n), values.size()).stream()
            .filter(Double::isFinite)
            .toList();
    if (last.isEmpty()) {
      return "";
    }
    double lo = last.stream().mapToDouble(Double::doubleValue).min().orElse(0);
    double hi = last.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    StringBuilder sb = new StringBuilder();
    for (double v : last) {
      int i =
          hi > lo
              ? (int) Math.round((v - lo) / (hi - lo) * (bars.length() - 1))
              : bars.length() / 2;
      sb.append(bars.charAt(i));
    }
    return sb.toString();
  }

  private static String number(String format, double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, format, v) : "-";
  }

  private static String percent(double fraction) {
    return Double.isFinite(fraction) ? String.format(Locale.ROOT, "%.1f%%", 100 * fraction) : "-";
  }

  private static String bytes(long b) {
    if (b <= 0) {
      return "-";
    }
    return b >= 1e9
        ? String.format(Locale.ROOT, "%.1f GB", b / 1e9)
        : String.format(Locale.ROOT, "%.0f MB", b / 1e6);
  }

  private static String truncate(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n - 1) + "~";
  }

  private static List<String> clip(List<String> lines, int width) {
    return lines.stream().map(l -> l.startsWith("\033[") ? l : clipOne(l, width)).toList();
  }

  private static String clipOne(String line, int width) {
    return line.length() <= width ? line : line.substring(0, Math.max(0, width));
  }
}
