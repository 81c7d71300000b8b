package dev.cria.core;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** cria's version, from {@code cria-version.properties}, which the cria jar's build writes. */
public final class CriaVersion {
  private CriaVersion() {}

  /** The version, or {@code unknown} when the properties are not on the class path. */
  public static String get() {
    Properties p = new Properties();
    try (InputStream in = CriaVersion.class.getResourceAsStream("/cria-version.properties")) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      return "unknown";
    }
    return p.getProperty("version", "unknown");
  }
}
