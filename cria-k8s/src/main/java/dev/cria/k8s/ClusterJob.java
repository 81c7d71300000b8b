package dev.cria.k8s;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The cluster's facts about one run: what {@code cria k8s render} adds to a training config.
 *
 * @param name the job's name (a DNS label): the job, its pods, the run directory {@code
 *     <sharedMount>/cria/runs/<name>}
 * @param namespace where its objects go
 * @param image the container image with cria, Open MPI and an ssh server
 * @param workers worker pods
 * @param procsPerWorker processes (MPI slots) per worker pod
 * @param resources extended resources each worker asks for ({@code nvidia.com/gpu=8}, {@code
 *     aws.amazon.com/neuron=16}, {@code vpc.amazonaws.com/efa=8}), as limits and requests
 * @param cpu each worker's CPU request and limit, or null
 * @param memory each worker's memory request and limit, or null
 * @param sharedPvc the claim of the shared volume (runs, data, checkpoints)
 * @param sharedMount where the shared volume is mounted in every pod
 * @param shmSize the size of the memory-backed {@code /dev/shm}, or null for the node's default
 * @param nodeSelector labels a worker's node must have
 * @param tolerations taints the workers tolerate, as {@code key[=value]:effect} or {@code key}
 * @param backoffLimit how many times the operator restarts a failed job (each resumes the run)
 * @param masterPort the rendezvous port rank 0 listens on
 * @param queue the Kueue LocalQueue the jobs wait in (created suspended, the queue label set), or
 *     null to start them at once
 */
public record ClusterJob(
    String name,
    String namespace,
    String image,
    int workers,
    int procsPerWorker,
    Map<String, String> resources,
    String cpu,
    String memory,
    String sharedPvc,
    String sharedMount,
    String shmSize,
    Map<String, String> nodeSelector,
    List<String> tolerations,
    int backoffLimit,
    int masterPort,
    String queue) {

  /** The label every object cria makes carries. */
  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";

  /** Kueue's label naming the LocalQueue a job is submitted to. */
  public static final String QUEUE = "kueue.x-k8s.io/queue-name";

  /** The label that names the run an object belongs to. */
  public static final String RUN = "cria.dev/run";

  public ClusterJob {
    require(
        name != null && name.matches("[a-z]([-a-z0-9]{0,38}[a-z0-9])?"),
        "--job '"
            + name
            + "' must be a DNS label: lower-case letters, digits and '-', starting"
            + " with a letter, at most 40 characters (the pods add suffixes)");
    require(
        namespace != null && namespace.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"),
        "--namespace '" + namespace + "' is not a DNS label");
    requireImage("--image", image);
    require(workers >= 1, "--workers must be at least 1, got " + workers);
    require(procsPerWorker >= 1, "--procs-per-worker must be at least 1, got " + procsPerWorker);
    require(
        sharedPvc != null && !sharedPvc.isBlank(),
        "--shared-pvc is required: the claim of the volume every pod shares");
    require(
        sharedMount != null && sharedMount.startsWith("/"),
        "--shared-mount must be an absolute path, got '" + sharedMount + "'");
    require(backoffLimit >= 0, "--backoff-limit must be zero or more");
    require(masterPort > 0 && masterPort < 65536, "--master-port must be a TCP port");
    require(
        queue == null || queue.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"),
        "--queue '" + queue + "' is not a LocalQueue's name (a DNS label)");
    resources = Map.copyOf(new LinkedHashMap<>(resources));
    requireResources(resources);
    requirePlacement(cpu, memory, nodeSelector, tolerations);
    nodeSelector = Map.copyOf(nodeSelector);
    tolerations = List.copyOf(tolerations);
  }

  /** Checks an image name {@code flag} gives: there, and an image reference a registry takes. */
  static void requireImage(String flag, String image) {
    require(image != null && !image.isBlank(), flag + " is required (see cria image build)");
    try {
      com.google.cloud.tools.jib.api.ImageReference.parse(image);
    } catch (com.google.cloud.tools.jib.api.InvalidImageReferenceException | RuntimeException e) {
      throw new IllegalArgumentException(
          flag
              + " '"
              + image
              + "': not an image reference such as registry.example.com/team/cria:0.1.0"
              + " (lower-case repository, no spaces)");
    }
  }

  /** Checks extended resources as {@code --resource NAME=COUNT} flags give them. */
  static void requireResources(Map<String, String> resources) {
    for (Map.Entry<String, String> r : resources.entrySet()) {
      require(
          r.getKey().matches("[a-z0-9.-]+/[A-Za-z0-9._-]+|[a-z]+"),
          "--resource " + r.getKey() + ": expected NAME=COUNT such as nvidia.com/gpu=8");
      require(
          r.getValue().matches("\\d+") && Long.parseLong(r.getValue()) > 0,
          "--resource "
              + r.getKey()
              + "="
              + r.getValue()
              + ": the count must be a whole number above 0 (extended resources come whole)");
    }
  }

  /**
   * Checks a pod's size and placement as flags give them, naming the flag at fault: CPU and memory
   * positive Kubernetes quantities (or null), node-selector and toleration keys label keys.
   */
  static void requirePlacement(
      String cpu, String memory, Map<String, String> nodeSelector, List<String> tolerations) {
    require(cpu == null || positiveQuantity(cpu), "--cpu '" + cpu + "': " + QUANTITY_HELP);
    require(
        memory == null || positiveQuantity(memory), "--memory '" + memory + "': " + QUANTITY_HELP);
    for (String key : nodeSelector.keySet()) {
      require(
          labelKey(key),
          "--node-selector " + key + ": not a label key such as node.kubernetes.io/x");
    }
    PodTemplates.tolerations(tolerations); // each is checked now, not when rendered
  }

  private static final String QUANTITY_HELP =
      "not a positive Kubernetes quantity such as 2, 500m, 0.5, 64Gi or 512M";

  /** A quantity as Kubernetes writes one (decimal or binary suffix, or an exponent), above 0. */
  private static boolean positiveQuantity(String q) {
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile(
                "(\\d+(?:\\.\\d*)?|\\.\\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\\d+)?")
            .matcher(q);
    return m.matches() && new java.math.BigDecimal(m.group(1)).signum() > 0;
  }

  /** A label or taint key: an optional DNS-subdomain prefix and '/', then a name. */
  static boolean labelKey(String key) {
    return key.matches(
        "([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            + "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /**
   * Checks paths the job's pods read ({@code key} and path pairs, such as {@code data.data_prefix}
   * and its prefix) as the pods will see them: a relative path is refused (a pod would resolve it
   * against its own working directory, not this machine's); an absolute one outside the shared
   * volume ({@code sharedMount}) is told of in the lines returned, since only an image that holds
   * it lets the pods read it.
   *
   * @throws IllegalArgumentException naming the first relative path and its key
   */
  public List<String> requirePodPaths(List<Map.Entry<String, String>> paths) {
    String mount = sharedMount.replaceAll("/+$", "");
    List<String> notes = new ArrayList<>();
    for (Map.Entry<String, String> p : paths) {
      String path = p.getValue();
      require(
          path.startsWith("/"),
          p.getKey()
              + " '"
              + path
              + "' is relative, and the pods would read it from their own working directory:"
              + " give the path the pods see, on the shared volume (under --shared-mount "
              + mount
              + ")");
      String normal = java.nio.file.Path.of(path).normalize().toString();
      if (!normal.equals(mount) && !normal.startsWith(mount + "/")) {
        notes.add(
            p.getKey()
                + " "
                + path
                + " is not under --shared-mount "
                + mount
                + ": the pods read it only if their image holds it");
      }
    }
    return notes;
  }

  /** All ranks: workers times processes per worker. */
  public int worldSize() {
    return workers * procsPerWorker;
  }

  /** The run directory inside the pods: named after the job, so a resubmission resumes it. */
  public String runDir() {
    return sharedMount.replaceAll("/+$", "") + "/cria/runs/" + name;
  }

  /** The labels of every object of this run. */
  public Map<String, String> labels() {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(MANAGED_BY, "cria");
    labels.put(RUN, name);
    return labels;
  }
}
