package dev.cria.train.distributed;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.function.Consumer;

/**
 * How a worker learns that the process that started it is gone, from something the kernel does when
 * a process dies, whether or not its own parent has reaped it yet (a zombie still "exists" to
 * anyone who asks for its pid):
 *
 * <ul>
 *   <li>under {@code cria train --nproc}, the launcher holds the write end of each worker's
 *       standard input and never writes to it ({@link #PIPE}{@code =stdin}): when the launcher
 *       dies, the kernel closes it and the worker reads end-of-file;
 *   <li>under anything else (mpirun's daemon, a script), the worker asks the kernel for SIGTERM
 *       when its parent dies ({@code prctl(PR_SET_PDEATHSIG)}), which is the signal a stop request
 *       is anyway. Linux sends it when the parent's thread that started the worker ends; mpirun's
 *       and Open MPI's daemons start their ranks from threads that live as long as they do.
 * </ul>
 *
 * <p>Either way the worker stops after its current step, with a checkpoint, as on Ctrl-C.
 */
public final class LauncherLink {
  /** Set by the local launcher to {@code stdin}: the worker's standard input is its pipe. */
  public static final String PIPE = "CRIA_LAUNCHER_PIPE";

  private static final int PR_SET_PDEATHSIG = 1;
  private static final int SIGTERM = 15;

  private LauncherLink() {}

  /**
   * Watches this worker's launcher as {@code env} says: {@code stop} runs (once) when it is gone,
   * after a line to {@code log}. Returns how it watches, for the log.
   */
  public static String watch(Map<String, String> env, Runnable stop, Consumer<String> log) {
    if ("stdin".equals(env.get(PIPE))) {
      Thread reader =
          Thread.ofPlatform()
              .daemon()
              .name("cria-launcher-pipe")
              .start(() -> {
                awaitEndOfFile(System.in);
                log.accept("the launcher is gone (its pipe closed): stopping after this step");
                stop.run();
              });
      return "launcher: watched through its pipe (thread " + reader.getName() + ")";
    }
    try {
      MethodHandle prctl =
          Libc.function(
              "prctl",
              FunctionDescriptor.of(
                  ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
              Linker.Option.firstVariadicArg(1));
      int code = (int) prctl.invokeExact(PR_SET_PDEATHSIG, (long) SIGTERM);
      if (code != 0) {
        throw new IllegalStateException("prctl returned " + code);
      }
    } catch (Throwable t) {
      // not Linux: the parent's pid, asked now and then (a zombie parent is missed)
      ProcessHandle.current()
          .parent()
          .ifPresent(parent ->
              parent
                  .onExit()
                  .thenRun(() -> {
                    log.accept(
                        "the launcher (pid "
                            + parent.pid()
                            + ") is gone: stopping after this step");
                    stop.run();
                  }));
      return "launcher: its pid is watched (no PR_SET_PDEATHSIG here: " + t + ")";
    }
    if (ProcessHandle.current().parent().isEmpty()) {
      log.accept("the launcher is gone already: stopping after this step");
      stop.run();
    }
    return "launcher: SIGTERM when it dies (PR_SET_PDEATHSIG)";
  }

  /** Reads and drops {@code in} until end-of-file (or an error, which means the same). */
  static void awaitEndOfFile(InputStream in) {
    byte[] sink = new byte[256];
    try {
      while (in.read(sink) >= 0) {
        // the launcher never writes; anything read is dropped
      }
    } catch (IOException e) {
      // closed under us: gone all the same
    }
  }
}
