package dev.cria.core.checksum;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChecksumsTest {
  @TempDir Path dir;

  @Test
  void givesTheStandardCheckValueOfCrc32c() {
    // the CRC catalogue's check value for CRC-32C (iSCSI): "123456789" -> 0xE3069283
    assertThat(Checksums.crc32c("123456789".getBytes(StandardCharsets.US_ASCII)))
        .isEqualTo(0xE3069283L);
  }

  @Test
  void aFileLargerThanOneChunkGivesTheChecksumOfItsBytes() throws IOException {
    byte[] bytes = new byte[(1 << 22) * 2 + 12345];
    new SplittableRandom(7).nextBytes(bytes);
    Path f = dir.resolve("data.bin");
    Files.write(f, bytes);
    assertThat(Checksums.crc32c(f)).isEqualTo(Checksums.crc32c(bytes));
  }

  @Test
  void oneFlippedBitChangesIt() throws IOException {
    byte[] bytes = new byte[1000];
    Path f = dir.resolve("f");
    Files.write(f, bytes);
    long before = Checksums.crc32c(f);
    bytes[500] ^= 0x10;
    Files.write(f, bytes);
    assertThat(Checksums.crc32c(f)).isNotEqualTo(before);
    assertThat(Checksums.crc32c(dir.resolve("f"))).isEqualTo(Checksums.crc32c(bytes));
  }
}
