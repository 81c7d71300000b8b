package dev.cria.cli.k8s;

import dev.cria.cli.UserError;
import dev.cria.k8s.K8sException;
import dev.cria.k8s.WorkerWait;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cria k8s wait-workers}: what the launcher pod runs before mpirun, so that mpirun never
 * starts before every worker's ssh server can be reached.
 */
@Command(
    name = "wait-workers",
    mixinStandardHelpOptions = true,
    description =
        "In the launcher pod: wait until every host of the MPI hostfile accepts ssh connections.")
public final class WaitWorkersCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--timeout",
      paramLabel = "SECONDS",
      defaultValue = "600",
      description =
          "Give up, naming the missing workers, after this long (default:" + " ${DEFAULT-VALUE}).")
  int timeout;

  @Option(
      names = "--hostfile",
      paramLabel = "FILE",
      description =
          "The hostfile (default: OMPI_MCA_orte_default_hostfile, else /etc/mpi/hostfile).")
  Path hostfile;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      defaultValue = "22",
      description = "The workers' ssh port (default: ${DEFAULT-VALUE}).")
  int port;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Path file = hostfile != null ? hostfile : WorkerWait.hostfile(System.getenv());
    try {
      WorkerWait.await(
          WorkerWait.hosts(file),
          port,
          Duration.ofSeconds(timeout),
          line -> {
            out.println("wait-workers: " + line);
            out.flush();
          });
    } catch (IOException e) {
      throw new UserError(file + ": cannot read the MPI hostfile: " + e.getMessage());
    } catch (K8sException e) {
      throw new UserError(e.getMessage());
    }
    return 0;
  }
}
