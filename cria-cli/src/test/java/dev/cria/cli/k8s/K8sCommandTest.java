package dev.cria.cli.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.cli.CliRun;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cria k8s} from the user's side, against fabric8's mock API server found through a
 * kubeconfig as kubectl would find it.
 */
class K8sCommandTest {
  @TempDir Path tmp;
  KubernetesMockServer server;
  KubernetesClient client;
  String previousKubeconfig;

  static final ResourceDefinitionContext MPIJOBS =
      new ResourceDefinitionContext.Builder()
          .withGroup("kubeflow.org")
          .withVersion("v2beta1")
          .withKind("MPIJob")
          .withPlural("mpijobs")
          .withNamespaced(true)
          .build();

  @BeforeEach
  void start() throws Exception {
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    CustomResourceDefinitionContext crd =
        new CustomResourceDefinitionContext.Builder()
            .withGroup("kubeflow.org")
            .withVersion("v2beta1")
            .withKind("MPIJob")
            .withPlural("mpijobs")
            .withScope("Namespaced")
            .build();
    server =
        new KubernetesMockServer(
            new Context(),
            new MockWebServer(),
            responses,
            new KubernetesMixedDispatcher(responses, List.of(crd)),
            false);
    server.init();
    client = server.createClient();
    Path kubeconfig = tmp.resolve("kubeconfig");
    Files.writeString(
        kubeconfig,
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster: {server: "%s"}
        contexts:
        - name: mock
          context: {cluster: mock, namespace: team-a, user: me}
        current-context: mock
        users:
        - name: me
          user: {token: not-a-secret}
        """
            .formatted(server.url("/").replaceAll("/$", "")));
    previousKubeconfig = System.getProperty("kubeconfig");
    System.setProperty("kubeconfig", kubeconfig.toString());
  }

  @AfterEach
  void stop() {
    if (previousKubeconfig == null) {
      System.clearProperty("kubeconfig");
    } else {
      System.setProperty("kubeconfig", previousKubeconfig);
    }
    client.close();
    server.destroy();
  }

  private static final String[] JOB = {
    "--job",
    "brown-tiny",
    "--image",
    "registry.local/cria:0.1.0",
    "--workers",
    "2",
    "--shared-pvc",
    "shared",
    "--data-prefix",
    "/shared/data/brown_text_document",
    "--micro-batch",
    "2",
    "--global-batch",
    "8",
    "--max-steps",
    "50"
  };

  /** {@code cria k8s <sub> <what>}, the job's flags, then {@code more} (which win). */
  private static String[] args(String sub, String what, String... more) {
    List<String> all = new java.util.ArrayList<>(List.of("k8s", sub, what));
    all.addAll(List.of(JOB));
    all.addAll(List.of(more));
    return all.toArray(String[]::new);
  }

  @Test
  void renderSubmitStatusBoardStopAndCleanupFromTheCommandLine() throws Exception {
    CliRun render = CliRun.of(args("render", "train"));
    assertThat(render.exitCode()).as(render.err()).isZero();
    assertThat(render.out())
        .contains(
            "kind: \"MPIJob\"", "namespace: \"team-a\"", "run_dir: /shared/cria/runs/brown-tiny")
        .contains("-np 2 -bind-to none");

    CliRun submit = CliRun.of(args("submit", "train"));
    assertThat(submit.exitCode()).as(submit.err()).isZero();
    assertThat(submit.out())
        .contains(
            "ConfigMap team-a/brown-tiny-config created",
            "MPIJob team-a/brown-tiny created",
            "watch it: cria k8s status brown-tiny");
    CliRun board =
        CliRun.of(
            "k8s",
            "submit",
            "board",
            "--job",
            "brown-tiny",
            "--image",
            "registry.local/cria:0.1.0",
            "--shared-pvc",
            "shared");
    assertThat(board.exitCode()).as(board.err()).isZero();
    assertThat(board.out())
        .contains("Secret team-a/brown-tiny-board created", "Deployment team-a/brown-tiny-board")
        .doesNotContain("password");

    // a suspended job: status says whether Kueue holds it (this one has no queue label)
    GenericKubernetesResource waiting =
        client
            .genericKubernetesResources(MPIJOBS)
            .inNamespace("team-a")
            .withName("brown-tiny")
            .get();
    waiting
        .getAdditionalProperties()
        .put(
            "status",
            Map.of(
                "conditions",
                List.of(
                    Map.of(
                        "type", "Suspended",
                        "status", "True",
                        "lastTransitionTime", "2026-12-04T09:59:00Z"))));
    client.genericKubernetesResources(MPIJOBS).inNamespace("team-a").resource(waiting).update();
    CliRun suspended = CliRun.of("k8s", "status", "brown-tiny");
    assertThat(suspended.exitCode()).as(suspended.err()).isZero();
    assertThat(suspended.out())
        .contains(
            "MPIJob team-a/brown-tiny: Suspended",
            "suspended, and not by Kueue (the job has no queue label)",
            "ranks: no running worker pod");

    // the operator's part: a launcher pod and a Running condition
    operatorMakesALauncher();
    GenericKubernetesResource job =
        client
            .genericKubernetesResources(MPIJOBS)
            .inNamespace("team-a")
            .withName("brown-tiny")
            .get();
    job.getAdditionalProperties()
        .put(
            "status",
            Map.of(
                "conditions",
                List.of(
                    Map.of(
                        "type",
                        "Created",
                        "status",
                        "False",
                        "lastTransitionTime",
                        "2026-12-04T10:00:00Z"),
                    Map.of(
                        "type",
                        "Running",
                        "status",
                        "True",
                        "lastTransitionTime",
                        "2026-12-04T10:01:00Z",
                        "message",
                        "MPIJob team-a/brown-tiny is running."))));
    client.genericKubernetesResources(MPIJOBS).inNamespace("team-a").resource(job).update();
    Path shared = tmp.resolve("shared");
    CliRun status = CliRun.of("k8s", "status", "brown-tiny", "--shared-local", shared.toString());
    assertThat(status.exitCode()).as(status.err()).isZero();
    assertThat(status.out())
        .contains(
            "MPIJob team-a/brown-tiny: Running",
            "brown-tiny-launcher",
            "launcher",
            "ranks (" + shared.resolve("cria/runs/brown-tiny") + "):",
            "no status files yet");

    CliRun url = CliRun.of("k8s", "board-url", "brown-tiny", "--password");
    assertThat(url.out())
        .contains("kubectl port-forward -n team-a svc/brown-tiny-board 6006:6006")
        .containsPattern("password: [A-Za-z0-9_-]{24}");

    CliRun again = CliRun.of(args("submit", "train"));
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err()).contains("already exists (Running): stop it first");

    CliRun stop = CliRun.of("k8s", "stop", "brown-tiny", "--timeout", "10");
    assertThat(stop.exitCode()).as(stop.err()).isZero();
    assertThat(stop.out())
        .contains(
            "removed MPIJob team-a/brown-tiny",
            "removed pod team-a/brown-tiny-launcher",
            "its run stays in <shared>/cria/runs/brown-tiny");

    // the run's files on the shared volume go only on request, and only if cria made them
    Path run = shared.resolve("cria/runs/brown-tiny");
    Files.createDirectories(run.resolve("0"));
    Files.writeString(run.resolve("config.yaml"), "run_dir: /shared/cria/runs/brown-tiny\n");
    Files.writeString(run.resolve("0/log"), "step 1\n");
    CliRun cleanup =
        CliRun.of(
            "k8s", "cleanup", "brown-tiny", "--delete-run", "--shared-local", shared.toString());
    assertThat(cleanup.exitCode()).as(cleanup.err()).isZero();
    assertThat(cleanup.out())
        .contains(
            "removed ConfigMap team-a/brown-tiny-config",
            "removed Secret team-a/brown-tiny-board",
            "removed Service team-a/brown-tiny-board",
            "removed the run directory",
            "(2 files)");
    assertThat(run).doesNotExist();
    CliRun nothing = CliRun.of("k8s", "cleanup", "--all");
    assertThat(nothing.out()).contains("nothing of cria's in namespace team-a");

    Path notOurs = shared.resolve("cria/runs/other");
    Files.createDirectories(notOurs);
    Files.writeString(notOurs.resolve("notes.txt"), "mine");
    CliRun refused =
        CliRun.of("k8s", "cleanup", "other", "--delete-run", "--shared-local", shared.toString());
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err()).contains("not a run cria made");
    assertThat(notOurs.resolve("notes.txt")).exists();
  }

  @Test
  void renderRefusesWhatTheClusterCannotRunBeforeAnythingIsApplied() {
    CliRun uneven = CliRun.of(args("render", "train", "--workers", "3"));
    assertThat(uneven.exitCode()).isEqualTo(1);
    assertThat(uneven.err())
        .contains(
            "trainer.global_batch_size 8 is not a multiple of micro_batch_size x"
                + " data-parallel size = 2 x 3");
    // a tensor-parallel group stays in one worker's shared memory
    CliRun spanning =
        CliRun.of(
            args(
                "render",
                "train",
                "--workers",
                "2",
                "--procs-per-worker",
                "2",
                "--tensor-parallel",
                "4"));
    assertThat(spanning.exitCode()).isEqualTo(1);
    assertThat(spanning.err())
        .contains("distributed.tensor_parallel 4 with 2 rank(s) on each host")
        .contains("must stay on one host");
    CliRun inOne =
        CliRun.of(
            args(
                "render",
                "train",
                "--workers",
                "1",
                "--procs-per-worker",
                "2",
                "--tensor-parallel",
                "2"));
    assertThat(inOne.exitCode()).as(inOne.err()).isZero();
    assertThat(inOne.out()).contains("tensor_parallel: 2");
    // two workers of two: each worker's pair shares a model, the two pairs are data-parallel
    CliRun replicas =
        CliRun.of(
            args(
                "render",
                "train",
                "--workers",
                "2",
                "--procs-per-worker",
                "2",
                "--tensor-parallel",
                "2",
                "--sequence-parallel"));
    assertThat(replicas.exitCode()).as(replicas.err()).isZero();
    assertThat(replicas.out()).contains("tensor_parallel: 2", "sequence_parallel: true");
    // each command takes exactly its options: the run directory is named after the job, the
    // local run's flags are cria train's, and the board has no training options
    for (String[] notHere :
        List.of(
            args("render", "train", "--run-dir", "/tmp/elsewhere"),
            args("render", "train", "--check"),
            args("render", "compile", "--nproc", "2"),
            args("submit", "train", "--output", "/tmp/x.yaml"),
            new String[] {
              "k8s",
              "render",
              "board",
              "--job",
              "brown-tiny",
              "--shared-pvc",
              "shared",
              "--image",
              "registry.local/cria:0.1.0",
              "--max-steps",
              "5"
            },
            new String[] {
              "k8s",
              "render",
              "board",
              "--job",
              "brown-tiny",
              "--shared-pvc",
              "shared",
              "--image",
              "registry.local/cria:0.1.0",
              "--workers",
              "2"
            })) {
      CliRun refused = CliRun.of(notHere);
      assertThat(refused.exitCode()).as(String.join(" ", notHere)).isEqualTo(2);
      assertThat(refused.err()).contains("Unknown option");
    }
    // the pods read the data and the tokenizer from their own file system
    List<String> relativeData = new java.util.ArrayList<>(List.of(args("render", "train")));
    relativeData.set(relativeData.indexOf("--data-prefix") + 1, "data/brown_text_document");
    CliRun relative = CliRun.of(relativeData.toArray(String[]::new));
    assertThat(relative.exitCode()).isEqualTo(1);
    assertThat(relative.err())
        .contains(
            "data.data_prefix 'data/brown_text_document' is relative, and the pods would read it"
                + " from their own working directory")
        .contains("under --shared-mount /shared");
    CliRun outside = CliRun.of(args("render", "train", "--tokenizer", "/tmp/tok"));
    assertThat(outside.exitCode()).as(outside.err()).isZero();
    assertThat(outside.out())
        .contains(
            "# warning: model.tokenizer /tmp/tok is not under --shared-mount /shared: the pods"
                + " read it only if their image holds it")
        .doesNotContain("warning: data.data_prefix");
    // every flag a job cannot do without is named at once, not one per attempt
    CliRun bare = CliRun.of("k8s", "render", "train", "--data-prefix", "/shared/d");
    assertThat(bare.exitCode()).isEqualTo(1);
    assertThat(bare.err().strip())
        .isEqualTo(
            "cria: missing: --job NAME, --image REF (see cria image build), --shared-pvc CLAIM"
                + " (the volume every pod shares)");
    CliRun intoDirectory =
        CliRun.of(args("render", "train", "--output", System.getProperty("java.io.tmpdir")));
    assertThat(intoDirectory.exitCode()).isEqualTo(1);
    assertThat(intoDirectory.err())
        .contains("is a directory; give the path of a file")
        .doesNotContain(".tmp-");
    CliRun badName = CliRun.of(args("render", "train", "--job", "Brown_Tiny"));
    assertThat(badName.err()).contains("--job 'Brown_Tiny' must be a DNS label");
    CliRun compile = CliRun.of(args("render", "compile"));
    assertThat(compile.out())
        .contains("cria compile --workers 2 --procs-per-worker 1 --config /etc/cria/config.yaml");
    CliRun noJob = CliRun.of("k8s", "status", "nothing");
    assertThat(noJob.exitCode()).isEqualTo(1);
    assertThat(noJob.err().strip())
        .isEqualTo("cria: no MPIJob or TrainJob team-a/nothing exists (cria k8s submit makes it)");
  }

  @Test
  void renderTakesTheJobKindTrainerV2RunsAndRefusesOneItDoesNotKnow() {
    CliRun trainJob = CliRun.of(args("render", "train", "--kind", "trainjob"));
    assertThat(trainJob.exitCode()).as(trainJob.err()).isZero();
    assertThat(trainJob.out())
        .contains("kind: \"TrainingRuntime\"", "kind: \"TrainJob\"", "kind: \"ConfigMap\"")
        .contains("CRIA_MASTER_ADDR=brown-tiny-node-0-0.brown-tiny.team-a.svc")
        .doesNotContain("MPIJob");
    CliRun compile = CliRun.of(args("render", "compile", "--kind", "trainjob"));
    assertThat(compile.out()).contains("name: \"brown-tiny-compile\"", "kind: \"TrainJob\"");
    CliRun queued =
        CliRun.of(args("render", "train", "--kind", "trainjob", "--queue", "training-queue"));
    assertThat(queued.exitCode()).as(queued.err()).isZero();
    assertThat(queued.out())
        .contains("kueue.x-k8s.io/queue-name: \"training-queue\"", "suspend: true");
    assertThat(trainJob.out()).doesNotContain("kueue", "suspend");
    CliRun unknown = CliRun.of(args("render", "train", "--kind", "pytorchjob"));
    assertThat(unknown.exitCode()).isEqualTo(1);
    assertThat(unknown.err())
        .contains("--kind pytorchjob: expected mpijob (Kubeflow MPI Operator) or trainjob");
  }

  @Test
  void aTrainJobOnASharedRuntimeNamesItAndRenderRuntimeWritesIt() {
    CliRun onShared = CliRun.of(args("render", "train", "--runtime", "cria-cpu"));
    assertThat(onShared.exitCode()).as(onShared.err()).isZero();
    assertThat(onShared.out())
        .contains("# the TrainJob runs on the shared TrainingRuntime cria-cpu")
        .contains("kind: \"TrainJob\"", "runtimePatches:", "name: \"cria-cpu\"")
        .doesNotContain("kind: \"TrainingRuntime\"\nmetadata"); // the runtime is not the run's
    CliRun mpiJob = CliRun.of(args("render", "train", "--runtime", "cria-cpu", "--kind", "mpijob"));
    assertThat(mpiJob.exitCode()).isEqualTo(1);
    assertThat(mpiJob.err()).contains("--runtime names a Kubeflow Trainer runtime");
    CliRun sized = CliRun.of(args("render", "train", "--runtime", "cria-cpu", "--cpu", "4"));
    assertThat(sized.exitCode()).isEqualTo(1);
    assertThat(sized.err()).contains("drop --resource, --cpu and --memory");
    CliRun compile = CliRun.of(args("render", "compile", "--runtime", "cria-cpu"));
    assertThat(compile.exitCode()).isEqualTo(2); // not an option of compile

    CliRun runtime =
        CliRun.of(
            "k8s",
            "render",
            "runtime",
            "--name",
            "cria-trn1",
            "--cluster-wide",
            "--image",
            "registry.local/cria:0.1.0",
            "--procs-per-worker",
            "32",
            "--resource",
            "aws.amazon.com/neuron=16",
            "--toleration",
            "aws.amazon.com/neuron:NoSchedule");
    assertThat(runtime.exitCode()).as(runtime.err()).isZero();
    assertThat(runtime.out())
        .contains("kind: \"ClusterTrainingRuntime\"", "name: \"cria-trn1\"")
        .contains("aws.amazon.com/neuron: \"16\"", "numProcPerNode: 32")
        .doesNotContain("namespace:");
    CliRun bad =
        CliRun.of(
            "k8s", "render", "runtime", "--name", "x", "--image", "i", "--toleration", "k:Never");
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.err()).contains("--toleration k:Never: the effect must be");
  }

  @Test
  void waitWorkersWaitsForTheHostfilesSshServers() throws Exception {
    try (ServerSocket sshd = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
      Path hostfile = tmp.resolve("hostfile");
      Files.writeString(hostfile, "127.0.0.1 slots=1\nlocalhost slots=1\n");
      CliRun ok =
          CliRun.of(
              "k8s",
              "wait-workers",
              "--hostfile",
              hostfile.toString(),
              "--port",
              Integer.toString(sshd.getLocalPort()),
              "--timeout",
              "5");
      assertThat(ok.exitCode()).as(ok.err()).isZero();
      assertThat(ok.out()).contains("wait-workers: all 2 worker(s) reachable");
      Files.writeString(hostfile, "127.0.0.1 slots=1\nmissing-worker.invalid slots=1\n");
      CliRun missing =
          CliRun.of(
              "k8s",
              "wait-workers",
              "--hostfile",
              hostfile.toString(),
              "--port",
              Integer.toString(sshd.getLocalPort()),
              "--timeout",
              "1");
      assertThat(missing.exitCode()).isEqualTo(1);
      assertThat(missing.err())
          .contains(
              "1 of 2 worker(s) never became reachable in 1 s:"
                  + " missing-worker.invalid (no DNS name yet)");
    }
  }

  @Test
  void logsPrintsTheLaunchersLogAndFollowsItWithItsCharactersWhole() {
    operatorMakesALauncher();
    String log = "[rank 0] step 1/50 | loss 6.1\n[rank 0] 손실 (loss) 5.9 ✓\n";
    server
        .expect()
        .get()
        .withPath("/api/v1/namespaces/team-a/pods/brown-tiny-launcher/log?pretty=false")
        .andReturn(200, log)
        .once();
    CliRun logs = CliRun.of("k8s", "logs", "brown-tiny");
    assertThat(logs.exitCode()).as(logs.err()).isZero();
    assertThat(logs.out()).isEqualTo(log);
    server
        .expect()
        .get()
        .withPath("/api/v1/namespaces/team-a/pods/brown-tiny-launcher/log?pretty=false&follow=true")
        .andReturn(200, log)
        .once();
    CliRun followed = CliRun.of("k8s", "logs", "brown-tiny", "-f");
    assertThat(followed.exitCode()).as(followed.err()).isZero();
    assertThat(followed.out()).isEqualTo(log);
    CliRun nobody = CliRun.of("k8s", "logs", "no-such-job");
    assertThat(nobody.exitCode()).isEqualTo(1);
    assertThat(nobody.err()).contains("no-such-job");
  }

  /** The operator's part: the job's launcher pod, running. */
  private void operatorMakesALauncher() {
    client
        .pods()
        .inNamespace("team-a")
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName("brown-tiny-launcher")
                .addToLabels("cria.dev/run", "brown-tiny")
                .addToLabels("training.kubeflow.org/job-role", "launcher")
                .endMetadata()
                .withNewStatus()
                .withPhase("Running")
                .endStatus()
                .build())
        .create();
  }
}
