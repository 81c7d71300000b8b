package dev.cria.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.PodFailurePolicy;
import io.fabric8.kubernetes.api.model.batch.v1.PodFailurePolicyBuilder;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokenizing a corpus on the cluster, what the blueprint does by hand in a CLI pod: an Indexed Job
 * ({@code <name>-prepare}) whose pod {@code I} runs {@code cria prepare --part I/N} into a parts
 * directory on the shared volume, each part retried alone when it fails ({@code
 * backoffLimitPerIndex}, each failed attempt logged beside the parts), and a Job ({@code
 * <name>-merge}) that waits for every part (giving up when a part has used all its attempts) and
 * merges them, per JSON key, into the dataset one {@code cria prepare} of the whole writes, byte
 * for byte; it then removes the parts directory it made (and its parent, when no other submission's
 * is in it).
 *
 * <p>The parts go under {@code <output-prefix>-parts/<batch>}, a directory of this submission only,
 * so that a merge never takes a part an earlier submission left.
 *
 * <p>A dataset at the output prefix is not replaced unless {@code overwrite}, as {@code cria
 * prepare} refuses it: every pod of both Jobs checks first and exits {@link #DATASET_EXISTS_EXIT}
 * naming it, which fails its Job at once. The merge's check is made once per submission (it leaves
 * a mark beside the dataset), so that a merge retried after it wrote the dataset finishes.
 *
 * @param job the run's facts: name, namespace, image, shared claim and mount, each pod's CPU and
 *     memory, the node selector, the tolerations and the queue (workers and processes unused)
 * @param inputs JSONL files, directories or globs as the pods see them (on the shared volume)
 * @param tokenizer the tokenizer as the pods see it
 * @param outputPrefix the dataset's prefix as the pods see it ({@code PREFIX_<key>_document})
 * @param jsonKeys the keys tokenized, each its own dataset
 * @param appendEod whether each document ends with the EOS token
 * @param parts how many parts (pods), at least 1
 * @param threads tokenizing threads per pod, or null for all the pod's cores
 * @param retries how often one part is retried before the job fails
 * @param batch the parts directory's name, unique to this submission ({@link #newBatch()})
 * @param overwrite replace a dataset that is at the output prefix already
 */
public record PrepareJob(
    ClusterJob job,
    List<String> inputs,
    String tokenizer,
    String outputPrefix,
    List<String> jsonKeys,
    boolean appendEod,
    int parts,
    Integer threads,
    int retries,
    String batch,
    boolean overwrite) {

  /** How long the merge waits for the parts (a day: the blueprint's took an hour). */
  public static final int MERGE_WAIT_SECONDS = 86_400;

  /**
   * A pod's exit status when the dataset is there already and the submission did not ask to replace
   * it ({@code EEXIST}'s number): its Job fails at once, not retried ({@code podFailurePolicy}).
   */
  public static final int DATASET_EXISTS_EXIT = 17;

  public PrepareJob {
    inputs = List.copyOf(inputs);
    jsonKeys = List.copyOf(jsonKeys);
    require(!inputs.isEmpty(), "--input is required: the JSONL files on the shared volume");
    for (String path : inputs) {
      requireSafe("--input", path);
    }
    requireSafe("--tokenizer", tokenizer);
    requireSafe("--output-prefix", outputPrefix);
    require(outputPrefix.startsWith("/"), "--output-prefix must be an absolute path in the pods");
    require(!jsonKeys.isEmpty(), "--json-keys needs a key");
    for (String key : jsonKeys) {
      require(key.matches("[A-Za-z0-9_-]+"), "--json-keys " + key + ": letters, digits, _ and -");
    }
    require(parts >= 1 && parts <= 10_000, "--parts must be 1 to 10000, got " + parts);
    require(threads == null || threads >= 1, "--workers must be at least 1");
    require(retries >= 0, "--retries must be zero or more");
    require(batch != null && batch.matches("[a-z0-9]{1,32}"), "a batch name of a-z and 0-9");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** A path handed to a shell in single quotes: no quote, no control character. */
  private static void requireSafe(String flag, String path) {
    require(
        path != null && !path.isBlank() && path.matches("[^'\\p{Cntrl}]+"),
        flag + " '" + path + "': a path without quotes or control characters");
  }

  /**
   * The prepare step of a TrainJob ({@code --prepare-input}): the dataset the run reads, made from
   * {@code inputs} with the run's tokenizer before its nodes start. The run's one data prefix names
   * it: {@code PREFIX_<key>_document}, as {@code cria prepare} writes it, gives the output prefix
   * and the JSON key.
   */
  public static PrepareJob forRun(
      ClusterJob job,
      List<String> dataPrefixes,
      String tokenizer,
      List<String> inputs,
      boolean appendEod,
      int parts,
      Integer threads,
      int retries) {
    // Megatron's data prefix: paths, or weights and paths in turn ([0.3, A, 0.7, B])
    boolean weighted =
        !dataPrefixes.isEmpty() && dataPrefixes.getFirst().strip().matches("[0-9.eE+-]+");
    int datasets = weighted ? dataPrefixes.size() / 2 : dataPrefixes.size();
    require(
        datasets == 1,
        "--prepare-input makes the one dataset the run reads; the run reads "
            + datasets
            + " (a blend): prepare each with cria k8s submit prepare");
    String prefix = dataPrefixes.get(weighted ? 1 : 0).strip();
    var m = java.util.regex.Pattern.compile("(/.+)_([A-Za-z0-9-]+)_document").matcher(prefix);
    require(
        m.matches(),
        "--prepare-input: the run's data prefix "
            + prefix
            + " must be an absolute PREFIX_<key>_document, as cria prepare names what it writes");
    require(tokenizer != null, "--prepare-input needs the run's --tokenizer (the pods' path)");
    try {
      return new PrepareJob(
          job,
          inputs,
          tokenizer,
          m.group(1),
          List.of(m.group(2)),
          appendEod,
          parts,
          threads,
          retries,
          newBatch(),
          false); // the TrainJob's steps reuse a dataset that is there
    } catch (IllegalArgumentException e) { // named by the train command's flags
      throw new IllegalArgumentException(
          e.getMessage()
              .replace("--parts", "--prepare-parts")
              .replace("--workers", "--prepare-threads")
              .replace("--retries", "--prepare-retries")
              .replace("--input", "--prepare-input"),
          e);
    }
  }

  /** A fresh batch name: 8 random hex digits. */
  public static String newBatch() {
    byte[] b = new byte[4];
    new SecureRandom().nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** The Indexed Job's name. */
  public String prepareName() {
    return job.name() + "-prepare";
  }

  /** The merge Job's name. */
  public String mergeName() {
    return job.name() + "-merge";
  }

  /** The directory of this submission's parts. */
  public String partsDirectory() {
    return outputPrefix + "-parts/" + batch;
  }

  /** Where the parts log their failed attempts, a file per part, for the merge to give up. */
  public String failuresDirectory() {
    return partsDirectory() + "/failed";
  }

  /** The Indexed Job and the merge Job. */
  public List<HasMetadata> objects() {
    return List.of(prepare(), merge());
  }

  /** Pod {@code I}'s script: part I of N into the parts directory. */
  String prepareScript() {
    List<String> args = new ArrayList<>(List.of("cria", "prepare", "--input"));
    inputs.forEach(i -> args.add(quote(i)));
    args.addAll(List.of("--tokenizer", quote(tokenizer), "--json-keys"));
    args.add(quote(String.join(",", jsonKeys)));
    if (appendEod) {
      args.add("--append-eod");
    }
    if (threads != null) {
      args.addAll(List.of("--workers", Integer.toString(threads)));
    }
    args.addAll(List.of("--part", "\"$JOB_COMPLETION_INDEX/" + parts + "\""));
    // the parts directory is this submission's own: a retried part replaces what it wrote
    args.addAll(
        List.of(
            "--output-prefix",
            quote(partsDirectory()) + "/part-\"$JOB_COMPLETION_INDEX\"",
            "--overwrite"));
    // a failed attempt is logged where the merge looks, so that it gives up with the Job
    return String.join(" ", args)
        + " || { s=$?; mkdir -p "
        + quote(failuresDirectory())
        + "; echo \"exit $s at $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)\" >> "
        + quote(failuresDirectory())
        + "/part-\"$JOB_COMPLETION_INDEX\"; exit $s; }";
  }

  /** The merge's script: each key's parts, in index order, when all are there; then no parts. */
  String mergeScript() {
    return mergeScript(true);
  }

  /**
   * The parts' Job's script: {@link #prepareScript}, after refusing a dataset that is there already
   * (unless {@code overwrite}) when the merge has not checked for one yet. The merge writes the
   * dataset only once every part is done, so a part that finds it did not make it; and a part that
   * refused without the merge would leave it waiting for parts that never come.
   */
  String partJobScript() {
    if (overwrite) {
      return prepareScript();
    }
    // the merge, begun (its mark), found none: one there now is another submission's, replaced
    return "if [ ! -f "
        + quote(mergeMark())
        + " ]; then\n"
        + refuseExisting("prepare")
        + "\nfi\n"
        + prepareScript();
  }

  /**
   * The merge Job's script: {@link #mergeScript}, after refusing a dataset that is there already
   * (unless {@code overwrite}). A mark beside the dataset ({@link #mergeMark}), made by the first
   * attempt and removed last, tells a retried merge that it began this (it merges again) or, once
   * it says {@code merged}, that only the parts are left to remove.
   */
  String mergeJobScript() {
    String mark = quote(mergeMark());
    List<String> steps = new ArrayList<>();
    steps.add("if [ -f " + mark + " ]; then");
    steps.add(
        "if [ \"$(cat "
            + mark
            + ")\" = merged ]; then echo 'merge: done already (by an earlier attempt)'; "
            + String.join("; ", cleanup())
            + "; rm -f "
            + mark
            + "; exit 0; fi");
    steps.add("else");
    if (!overwrite) {
      steps.add(refuseExisting("merge"));
    }
    steps.add("mkdir -p " + quote(parentOf(outputPrefix)) + " && : > " + mark + " || exit 1");
    steps.add("fi");
    steps.add("set -e");
    steps.addAll(merges(true));
    steps.add("echo merged > " + mark);
    steps.addAll(cleanup());
    steps.add("rm -f " + mark);
    return String.join("\n", steps);
  }

  private static String parentOf(String absolute) {
    int slash = absolute.lastIndexOf('/');
    return slash <= 0 ? "/" : absolute.substring(0, slash);
  }

  /** The file that marks this submission's merge as begun: beside the dataset, named by batch. */
  String mergeMark() {
    return outputPrefix + "-merging-" + batch;
  }

  /** Ends the pod with {@link #DATASET_EXISTS_EXIT} when any key's dataset file is there. */
  private String refuseExisting(String step) {
    List<String> tests = new ArrayList<>();
    for (String key : jsonKeys) {
      for (String ext : List.of(".bin", ".idx")) {
        tests.add("[ -e " + quote(outputPrefix + "_" + key + "_document" + ext) + " ]");
      }
    }
    List<String> datasets =
        jsonKeys.stream().map(k -> outputPrefix + "_" + k + "_document").toList();
    return "if "
        + String.join(" || ", tests)
        + "; then echo '"
        + step
        + ": "
        + String.join(" or ", datasets)
        + " is there already; nothing was changed. Submit with --overwrite to replace it,"
        + " or give another --output-prefix' >&2; exit "
        + DATASET_EXISTS_EXIT
        + "; fi";
  }

  /**
   * The merge's script; with {@code waitForParts} (the merge Job, started beside the parts) it
   * waits for them and gives up when a part's failures used its attempts; without (the TrainJob's
   * merge step, which JobSet starts once the parts are complete) it merges at once, so that the
   * failures a part logged before it succeeded, in this or an earlier JobSet restart, do not count.
   */
  private String mergeScript(boolean waitForParts) {
    List<String> steps = new ArrayList<>(List.of("set -e"));
    steps.addAll(merges(waitForParts));
    steps.addAll(cleanup());
    return String.join("\n", steps);
  }

  /** Each key's merge of its parts, in index order, into its dataset. */
  private List<String> merges(boolean waitForParts) {
    List<String> steps = new ArrayList<>();
    for (String key : jsonKeys) {
      List<String> args = new ArrayList<>(List.of("cria", "data", "merge"));
      if (waitForParts) {
        args.addAll(
            List.of(
                "--wait",
                Integer.toString(MERGE_WAIT_SECONDS),
                "--failures",
                quote(failuresDirectory()),
                "--attempts",
                Integer.toString(retries + 1)));
      }
      for (int i = 0; i < parts; i++) {
        args.add(quote(partsDirectory() + "/part-" + i + "_" + key + "_document"));
      }
      // the job makes this dataset: a resubmission or a retried merge makes it again
      args.addAll(
          List.of("--output-prefix", quote(outputPrefix + "_" + key + "_document"), "--overwrite"));
      steps.add(String.join(" ", args));
    }
    return steps;
  }

  /** Removes this submission's parts directory, and its parent when no other's is in it. */
  private List<String> cleanup() {
    return List.of(
        "rm -rf " + quote(partsDirectory()),
        "rmdir " + quote(outputPrefix + "-parts") + " 2>/dev/null || true");
  }

  /**
   * A shell test that the dataset is whole: every key's {@code .idx}, which the writer renames into
   * place after the {@code .bin}.
   */
  private String prepared() {
    List<String> tests = new ArrayList<>();
    for (String key : jsonKeys) {
      tests.add("[ -f " + quote(outputPrefix + "_" + key + "_document.idx") + " ]");
    }
    return String.join(" && ", tests);
  }

  /**
   * The TrainJob's {@code dataset-initializer} pods: part I, unless the dataset is there already (a
   * restarted or resubmitted TrainJob) or this part is (a restart after it succeeded).
   */
  String initializerScript() {
    List<String> partTests = new ArrayList<>();
    for (String key : jsonKeys) {
      partTests.add(
          "[ -f "
              + quote(partsDirectory())
              + "/part-\"$JOB_COMPLETION_INDEX\"_"
              + key
              + "_document.idx ]");
    }
    return "if "
        + prepared()
        + "; then echo 'prepare: "
        + outputPrefix
        + " is there; nothing to do'; elif "
        + String.join(" && ", partTests)
        + "; then echo \"prepare: part $JOB_COMPLETION_INDEX is there\"; else "
        + prepareScript()
        + "; fi";
  }

  /** The TrainJob's {@code dataset-merge} pod: the merge, unless the dataset is there already. */
  String mergeStepScript() {
    return "if "
        + prepared()
        + "; then echo 'merge: "
        + outputPrefix
        + " is there; nothing to do'; exit 0; fi\n"
        + mergeScript(false);
  }

  private static String quote(String s) {
    return "'" + s + "'";
  }

  private Job prepare() {
    return new JobBuilder()
        .withMetadata(Manifests.jobMeta(job, prepareName()))
        .withNewSpec()
        .withCompletionMode("Indexed")
        .withCompletions(parts)
        .withParallelism(parts)
        .withBackoffLimitPerIndex(retries)
        .withSuspend(job.queue() != null ? Boolean.TRUE : null)
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(job.labels())
        .endMetadata()
        .withSpec(pod("prepare", partJobScript(), true))
        .endTemplate()
        .withPodFailurePolicy(failFastWhenTheDatasetExists())
        .endSpec()
        .build();
  }

  private Job merge() {
    return new JobBuilder()
        .withMetadata(Manifests.jobMeta(job, mergeName()))
        .withNewSpec()
        .withBackoffLimit(retries)
        .withSuspend(job.queue() != null ? Boolean.TRUE : null)
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(job.labels())
        .endMetadata()
        .withSpec(pod("merge", mergeJobScript(), false))
        .endTemplate()
        .withPodFailurePolicy(failFastWhenTheDatasetExists())
        .endSpec()
        .build();
  }

  /** A refused dataset ends the Job at once: retrying would find it again. */
  private static PodFailurePolicy failFastWhenTheDatasetExists() {
    return new PodFailurePolicyBuilder()
        .addNewRule()
        .withAction("FailJob")
        .withNewOnExitCodes()
        .withOperator("In")
        .withValues(DATASET_EXISTS_EXIT)
        .endOnExitCodes()
        .endRule()
        .build();
  }

  /**
   * A pod running {@code script}; with {@code sized} it asks for {@code --cpu} and {@code --memory}
   * (the parts), else nothing (the merge, which mostly waits and then copies).
   */
  io.fabric8.kubernetes.api.model.PodSpec pod(String name, String script, boolean sized) {
    Map<String, String> selector =
        job.nodeSelector().isEmpty() ? null : new LinkedHashMap<>(job.nodeSelector());
    return new PodSpecBuilder()
        .withRestartPolicy("Never")
        .withContainers(
            new ContainerBuilder()
                .withName(name)
                .withImage(job.image())
                .withCommand("/bin/sh", "-c", script)
                .withResources(sized ? PodTemplates.resources(job, false) : null)
                .withVolumeMounts(
                    new VolumeMountBuilder()
                        .withName("shared")
                        .withMountPath(job.sharedMount())
                        .build())
                .build())
        .withVolumes(
            new VolumeBuilder()
                .withName("shared")
                .withNewPersistentVolumeClaim()
                .withClaimName(job.sharedPvc())
                .endPersistentVolumeClaim()
                .build())
        .withNodeSelector(selector)
        .withTolerations(
            job.tolerations().isEmpty() ? null : PodTemplates.tolerations(job.tolerations()))
        .build();
  }
}
