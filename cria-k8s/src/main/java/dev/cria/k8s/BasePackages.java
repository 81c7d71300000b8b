package dev.cria.k8s;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * What Debian packages a base image tarball ({@code docker save} format, as {@code
 * tools/make-base-image.sh} writes) has installed: its layers read in order for {@code
 * var/lib/dpkg/status}, the last layer's copy winning, as it would in the image. For the image to
 * say which Open MPI it carries (the label {@code dev.cria.openmpi}): the workers refuse Open MPI 5
 * under an operator, and a run is tested with the version it names.
 */
final class BasePackages {
  private static final String STATUS = "var/lib/dpkg/status";

  private BasePackages() {}

  /**
   * The installed version of {@code pkg} in the image tarball {@code tar}, if dpkg knows it: one
   * pass over the tarball, each layer's dpkg status kept, then the last in the manifest's order.
   */
  static Optional<String> version(Path tar, String pkg) throws IOException {
    String manifest = null;
    Map<String, byte[]> statuses = new HashMap<>();
    try (InputStream in = new BufferedInputStream(Files.newInputStream(tar))) {
      for (Entry e = next(in); e != null; e = next(in)) {
        if (e.name().equals("manifest.json")) {
          manifest = new String(e.read(in), StandardCharsets.UTF_8);
        } else if (e.type() == '0' || e.type() == '\0') {
          BufferedInputStream layer = new BufferedInputStream(limited(in, e.size()));
          byte[] status = statusIn(layer);
          if (status != null) {
            statuses.put(e.name(), status);
          }
          layer.transferTo(OutputStream.nullOutputStream()); // the rest of the member
          skipPadding(in, e.size());
        } else {
          e.skip(in);
        }
      }
    }
    if (manifest == null) {
      return Optional.empty();
    }
    String status = null;
    Matcher m = Pattern.compile("\"Layers\"\\s*:\\s*\\[([^\\]]*)]").matcher(manifest);
    if (m.find()) {
      Matcher names = Pattern.compile("\"([^\"]+)\"").matcher(m.group(1));
      while (names.find()) {
        byte[] found = statuses.get(names.group(1));
        if (found != null) {
          status = new String(found, StandardCharsets.UTF_8);
        }
      }
    }
    return status == null ? Optional.empty() : installed(status, pkg);
  }

  /** The version of {@code pkg} in a dpkg status file, when it is installed. */
  static Optional<String> installed(String status, String pkg) {
    for (String stanza : status.split("\n\n")) {
      if (stanza.lines().anyMatch(l -> l.equals("Package: " + pkg))
          && stanza.lines().anyMatch(l -> l.startsWith("Status: ") && l.endsWith(" installed"))) {
        return stanza
            .lines()
            .filter(l -> l.startsWith("Version: "))
            .map(l -> l.substring("Version: ".length()).strip())
            .findFirst();
      }
    }
    return Optional.empty();
  }

  /** The dpkg status file in a layer (a tar, gzipped or not), or null; read as a stream. */
  private static byte[] statusIn(BufferedInputStream layer) throws IOException {
    layer.mark(2);
    int b0 = layer.read();
    int b1 = layer.read();
    layer.reset();
    InputStream in =
        b0 == 0x1f && b1 == 0x8b ? new BufferedInputStream(new GZIPInputStream(layer)) : layer;
    for (Entry e = next(in); e != null; e = next(in)) {
      if (e.name().equals(STATUS) && e.type() != '2') {
        return e.read(in);
      }
      e.skip(in);
    }
    return null;
  }

  /** The next {@code size} bytes of {@code in}, as a stream that ends there. */
  private static InputStream limited(InputStream in, long size) {
    return new java.io.FilterInputStream(in) {
      private long left = size;

      @Override
      public int read() throws IOException {
        if (left <= 0) {
          return -1;
        }
        int b = super.read();
        if (b >= 0) {
          left--;
        }
        return b;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (left <= 0) {
          return -1;
        }
        int n = super.read(b, off, (int) Math.min(len, left));
        if (n > 0) {
          left -= n;
        }
        return n;
      }

      @Override
      public void close() {} // the archive's stream stays open
    };
  }

  /** A tar entry's header: its name (GNU long names read), size and type. */
  private record Entry(String name, long size, char type) {
    byte[] read(InputStream in) throws IOException {
      byte[] b = in.readNBytes(Math.toIntExact(size));
      if (b.length != size) {
        throw new IOException("a tar entry ends early: " + name);
      }
      skipPadding(in, size);
      return b;
    }

    void skip(InputStream in) throws IOException {
      in.skipNBytes(size);
      skipPadding(in, size);
    }
  }

  private static void skipPadding(InputStream in, long size) throws IOException {
    long pad = (512 - size % 512) % 512;
    in.skipNBytes(pad);
  }

  /** The next entry's header, or null at the end of the archive. */
  private static Entry next(InputStream in) throws IOException {
    String longName = null;
    while (true) {
      byte[] h = in.readNBytes(512);
      if (h.length < 512 || h[0] == 0) {
        return null;
      }
      String name = text(h, 0, 100);
      String prefix = text(h, 345, 155);
      long size =
          Long.parseLong(text(h, 124, 12).strip().isEmpty() ? "0" : text(h, 124, 12).strip(), 8);
      char type = (char) h[156];
      if (type == 'L') { // GNU: the next entry's long name
        Entry e = new Entry("", size, type);
        longName = new String(e.read(in), StandardCharsets.UTF_8).replace("\0", "");
        continue;
      }
      if (type == 'x' || type == 'g') { // pax headers: skipped (names short enough here)
        new Entry("", size, type).skip(in);
        continue;
      }
      String full = longName != null ? longName : prefix.isEmpty() ? name : prefix + "/" + name;
      full = full.startsWith("./") ? full.substring(2) : full;
      return new Entry(full, type == '5' ? 0 : size, type);
    }
  }

  private static String text(byte[] h, int from, int length) {
    int end = from;
    while (end < from + length && h[end] != 0) {
      end++;
    }
    return new String(h, from, end - from, StandardCharsets.US_ASCII);
  }
}
