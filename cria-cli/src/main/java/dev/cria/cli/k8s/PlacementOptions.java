package dev.cria.cli.k8s;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Where and how big each pod of a job is, and whether it waits in a queue, as flags: CPU, memory,
 * node selector, tolerations and the Kueue LocalQueue; what every job of {@code cria k8s
 * render|submit} (train, compile, prepare) takes.
 */
public final class PlacementOptions {
  @Option(
      names = "--cpu",
      paramLabel = "CPU",
      description = "Each worker's or prepare pod's CPU (request = limit).")
  String cpu;

  @Option(
      names = "--memory",
      paramLabel = "SIZE",
      description = "Each worker's or prepare pod's memory (request = limit), e.g. 64Gi.")
  String memory;

  @Option(
      names = "--node-selector",
      paramLabel = "K=V",
      description = "A label the workers' or prepare pods' nodes must have, repeatable.")
  List<String> nodeSelector = new ArrayList<>();

  @Option(
      names = "--toleration",
      paramLabel = "KEY[=VALUE][:EFFECT]",
      description = "A taint the workers or prepare pods tolerate, repeatable.")
  List<String> tolerations = new ArrayList<>();

  @Option(
      names = "--queue",
      paramLabel = "NAME",
      description =
          "Submit to Kueue: the LocalQueue NAME (the jobs are created suspended with Kueue's"
              + " queue label; Kueue starts them when the queue has quota). Default: start at once.")
  String queue;
}
