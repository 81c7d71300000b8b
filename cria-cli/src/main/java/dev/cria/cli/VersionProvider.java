package dev.cria.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** {@code cria --version}: the project version baked in at build time, and the JVM. */
final class VersionProvider implements IVersionProvider {
  @Override
  public String[] getVersion() throws IOException {
    Properties p = new Properties();
    try (InputStream in = VersionProvider.class.getResourceAsStream("/cria-version.properties")) {
      if (in != null) {
        p.load(in);
      }
    }
    return new String[] {
      "cria " + p.getProperty("version", "unknown"),
      "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"
    };
  }
}
