package dev.cria.train.distributed;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The output of a process cria started (a worker, a benchmark rank), read line by line on a daemon
 * thread of its own, without the JVM's notice that the Vector API is an incubator module.
 */
public final class ChildOutput {
  private static final String INCUBATOR_NOTICE = "WARNING: Using incubator modules";

  private ChildOutput() {}

  /**
   * Starts a thread named {@code name} that gives each line of {@code p}'s output to {@code lines}
   * until the process closes it; returns the thread, so that the caller may join it.
   */
  public static Thread follow(Process p, String name, Consumer<String> lines) {
    Thread t =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                  if (!line.startsWith(INCUBATOR_NOTICE)) {
                    lines.accept(line);
                  }
                }
              } catch (IOException e) {
                // the process is gone; its exit code tells the rest
              }
            },
            name);
    t.setDaemon(true);
    t.start();
    return t;
  }
}
