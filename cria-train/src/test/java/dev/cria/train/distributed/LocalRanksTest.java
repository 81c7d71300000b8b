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
}
