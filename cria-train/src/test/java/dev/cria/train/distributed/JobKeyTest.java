package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job's key: where its secret comes from, and the MACs a rank proves it with. */
class JobKeyTest {
  private static final byte[] SIXTEEN = "0123456789abcdef".getBytes(StandardCharsets.UTF_8);

  @TempDir Path tmp;

  /** HMAC-SHA256 over each part prefixed with its length, computed here independently. */
  private static byte[] expectedMac(byte[] secret, String... parts) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret, "HmacSHA256"));
    for (String p : parts) {
      byte[] b = p.getBytes(StandardCharsets.UTF_8);
      mac.update(ByteBuffer.allocate(4).putInt(b.length).array());
      mac.update(b);
    }
    return mac.doFinal();
  }

  @Test
  void aSecretNeedsSixteenBytesAndIsNeverShown() {
    assertThatThrownBy(() -> JobKey.of("0123456789abcde".getBytes(StandardCharsets.UTF_8), "j"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the job secret is 15 bytes; it needs at least 16");
    JobKey k = JobKey.of(SIXTEEN, "job-7");
    assertThat(k.jobId()).isEqualTo("job-7");
    assertThat(k.secretForChildEnvironment()).isEqualTo(HexFormat.of().formatHex(SIXTEEN));
    assertThat(k).hasToString("JobKey[job job-7, secret not shown]");
    JobKey generated = JobKey.generate("g");
    assertThat(generated.secretForChildEnvironment()).hasSize(64);
    assertThat(generated.secretForChildEnvironment())
        .isNotEqualTo(JobKey.generate("g").secretForChildEnvironment());
    assertThat(JobKey.nonce()).hasSize(32).isNotEqualTo(JobKey.nonce());
  }

  @Test
  void theKeyIsCopiedSoTheCallersArrayCannotChangeIt() throws Exception {
    byte[] secret = SIXTEEN.clone();
    JobKey k = JobKey.of(secret, "j");
    secret[0] = 'X';
    assertThat(k.mac("l")).isEqualTo(expectedMac(SIXTEEN, "l", "j"));
  }

  @Test
  void theMacCoversTheLabelTheJobAndEveryPartEachWithItsLength() throws Exception {
    JobKey k = JobKey.of(SIXTEEN, "job");
    byte[] ab = "ab".getBytes(StandardCharsets.UTF_8);
    byte[] c = "c".getBytes(StandardCharsets.UTF_8);
    byte[] mac = k.mac("cria join", ab, c);
    assertThat(mac).isEqualTo(expectedMac(SIXTEEN, "cria join", "job", "ab", "c"));
    assertThat(mac).isNotEqualTo(k.mac("cria join", "a".getBytes(), "bc".getBytes()));
    assertThat(mac).isNotEqualTo(JobKey.of(SIXTEEN, "other").mac("cria join", ab, c));
    assertThat(k.verify(mac, "cria join", ab, c)).isTrue();
    assertThat(k.verify(mac, "cria accept", ab, c)).isFalse();
    byte[] flipped = mac.clone();
    flipped[31] ^= 1;
    assertThat(k.verify(flipped, "cria join", ab, c)).isFalse();
    assertThat(JobKey.ints(1, -2, 0x01020304))
        .containsExactly(0, 0, 0, 1, -1, -1, -1, -2, 1, 2, 3, 4);
  }

  @Test
  void theSecretComesFromTheVariableOrTheFileAndTheJobFromItsVariable() throws Exception {
    assertThat(JobKey.fromEnvironment(Map.of(), "default")).isEmpty();
    JobKey inline =
        JobKey.fromEnvironment(Map.of(JobKey.SECRET, "  0123456789abcdef\n"), "default")
            .orElseThrow();
    assertThat(inline.jobId()).isEqualTo("default");
    assertThat(inline.secretForChildEnvironment()).isEqualTo(HexFormat.of().formatHex(SIXTEEN));

    Path file = tmp.resolve("secret");
    Files.writeString(file, "0123456789abcdef\n\n");
    JobKey fromFile =
        JobKey.fromEnvironment(
                Map.of(JobKey.SECRET_FILE, file.toString(), JobKey.JOB_ID, "j2"), "default")
            .orElseThrow();
    assertThat(fromFile.jobId()).isEqualTo("j2");
    assertThat(fromFile.mac("x")).isEqualTo(expectedMac(SIXTEEN, "x", "j2"));
  }

  @Test
  void anUnusableSecretNamesTheVariableOrTheFile() throws IOException {
    assertThatThrownBy(() ->
            JobKey.fromEnvironment(
                Map.of(JobKey.SECRET, "0123456789abcdef", JobKey.SECRET_FILE, "/x"), "d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("both CRIA_JOB_SECRET and CRIA_JOB_SECRET_FILE are set: set one");
    assertThatThrownBy(() -> JobKey.fromEnvironment(Map.of(JobKey.SECRET, " short  "), "d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("CRIA_JOB_SECRET holds 5 bytes; a job secret needs at least 16");
    Path missing = tmp.resolve("missing");
    assertThatThrownBy(
            () -> JobKey.fromEnvironment(Map.of(JobKey.SECRET_FILE, missing.toString()), "d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(
            "CRIA_JOB_SECRET_FILE=" + missing + ": cannot read the job secret (")
        .hasCauseInstanceOf(IOException.class);
    Path shortFile = tmp.resolve("short");
    Files.writeString(shortFile, "0123456789abcde\n");
    assertThatThrownBy(
            () -> JobKey.fromEnvironment(Map.of(JobKey.SECRET_FILE, shortFile.toString()), "d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "CRIA_JOB_SECRET_FILE="
                + shortFile
                + " holds 15 bytes; a job secret needs at least 16");
    Files.writeString(shortFile, "0123456789abcdef");
    assertThat(JobKey.fromEnvironment(Map.of(JobKey.SECRET_FILE, shortFile.toString()), "d"))
        .isPresent();
    assertThat(JobKey.fromEnvironment(Map.of(JobKey.SECRET, "0123456789abcdef"), "d")).isPresent();
  }
}
