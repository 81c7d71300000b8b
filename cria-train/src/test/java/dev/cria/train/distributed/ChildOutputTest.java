package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A child's output, line by line on a thread of its own, without the incubator notice. */
class ChildOutputTest {
  /** A process whose output is {@code out}. */
  private static Process printing(InputStream out) {
    return new Process() {
      @Override
      public OutputStream getOutputStream() {
        return OutputStream.nullOutputStream();
      }

      @Override
      public InputStream getInputStream() {
        return out;
      }

      @Override
      public InputStream getErrorStream() {
        return InputStream.nullInputStream();
      }

      @Override
      public int waitFor() {
        return 0;
      }

      @Override
      public int exitValue() {
        return 0;
      }

      @Override
      public void destroy() {}
    };
  }

  @Test
  void everyLineButTheIncubatorNoticeIsPassedOnInOrder() throws Exception {
    List<String> lines = new ArrayList<>();
    String out =
        "first\nWARNING: Using incubator modules: jdk.incubator.vector\n  WARNING: Using"
            + " incubator modules\nrésumé\n";
    Thread t =
        ChildOutput.follow(
            printing(new ByteArrayInputStream(out.getBytes(StandardCharsets.UTF_8))),
            "rank-3-output",
            lines::add);
    assertThat(t.getName()).isEqualTo("rank-3-output");
    assertThat(t.isDaemon()).isTrue();
    t.join(10_000);
    assertThat(t.isAlive()).isFalse();
    assertThat(lines).containsExactly("first", "  WARNING: Using incubator modules", "résumé");
  }

  @Test
  void aBrokenPipeEndsTheThreadQuietly() throws Exception {
    List<String> lines = new ArrayList<>();
    InputStream breaking =
        new InputStream() {
          private final InputStream first =
              new ByteArrayInputStream("one\n".getBytes(StandardCharsets.UTF_8));

          @Override
          public int read() throws IOException {
            int b = first.read();
            if (b < 0) {
              throw new IOException("pipe closed");
            }
            return b;
          }
        };
    Thread t = ChildOutput.follow(printing(breaking), "broken", lines::add);
    t.join(10_000);
    assertThat(t.isAlive()).isFalse();
    assertThat(lines).containsExactly("one");
  }
}
