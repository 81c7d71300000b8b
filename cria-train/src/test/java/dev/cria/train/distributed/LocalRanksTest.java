package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LocalRanksTest {
  @Test
  void theRendezvousPortIsOneTheKernelDoesNotHandOutForPortZero() throws Exception {
    int low = LocalRanks.ephemeralLow();
    assertThat(low)
        .as("this machine's ip_local_port_range starts high enough")
        .isGreaterThan(21_000);
    // the race the choice avoids: many listeners on port 0 and connections, as other ranks make
    List<ServerSocket> taken = new ArrayList<>();
    try {
      for (int i = 0; i < 50; i++) {
        int port = LocalRanks.freePort();
        assertThat(port).isBetween(20_000, low - 1);
        ServerSocket zero = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        taken.add(zero);
        assertThat(zero.getLocalPort()).isNotEqualTo(port).isGreaterThanOrEqualTo(low);
        try (ServerSocket master = new ServerSocket()) {
          master.setReuseAddress(true);
          master.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
          assertThat(master.getLocalPort()).isEqualTo(port);
        }
      }
    } finally {
      for (ServerSocket s : taken) {
        s.close();
      }
    }
  }

  @Test
  void theEphemeralRangeIsReadFromTheKernel() throws Exception {
    java.nio.file.Path range = java.nio.file.Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    int expected =
        java.nio.file.Files.isReadable(range)
            ? Integer.parseInt(
                java.nio.file.Files.readAllLines(range).getFirst().trim().split("\\s+")[0])
            : 32_768;
    assertThat(LocalRanks.ephemeralLow()).isEqualTo(expected);
  }

  @Test
  void aChildRankGetsItsPlaceAndTheKeyInItsEnvironmentOnly() {
    java.util.Map<String, String> env = new java.util.HashMap<>();
    env.put(JobKey.SECRET_FILE, "/run/secret");
    env.put("PATH", "/bin");
    JobKey key =
        JobKey.of("0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.UTF_8), "j9");
    LocalRanks.environment(env, 2, 4, 29_123, key);
    assertThat(env)
        .containsExactlyInAnyOrderEntriesOf(
            java.util.Map.of(
                "PATH",
                "/bin",
                "CRIA_RANK",
                "2",
                "CRIA_WORLD_SIZE",
                "4",
                "CRIA_LOCAL_RANK",
                "2",
                "CRIA_LOCAL_WORLD_SIZE",
                "4",
                "CRIA_MASTER_ADDR",
                "127.0.0.1",
                "CRIA_MASTER_PORT",
                "29123",
                JobKey.SECRET,
                key.secretForChildEnvironment(),
                JobKey.JOB_ID,
                "j9"));
    RankEnvironment back = RankEnvironment.from(env);
    assertThat(back).isEqualTo(new RankEnvironment(2, 4, 2, "127.0.0.1", 29_123));
  }
}
