package dev.cria.cli;

import picocli.CommandLine.IVersionProvider;

/** {@code cria --version}: the project version baked in at build time, and the JVM. */
public final class VersionProvider implements IVersionProvider {
  /** cria's version, from the properties the build writes ("unknown" without them). */
  public static String version() {
    return dev.cria.core.CriaVersion.get();
  }

  @Override
  public String[] getVersion() {
    return new String[] {
      "cria " + version(),
      "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"
    };
  }
}
