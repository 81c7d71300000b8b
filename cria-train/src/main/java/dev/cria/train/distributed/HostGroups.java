package dev.cria.train.distributed;

import dev.cria.engine.parallel.Collective;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Which ranks of a job share a host, found the way shared memory needs it: each rank leaves a small
 * file with a random tag in its shared-memory directory ({@link JoinSettings#shmDirectory()}), the
 * tags go round the group, and ranks that can read each other's files share a host (in containers:
 * share {@code /dev/shm}). Every rank ends with the same table.
 *
 * @param hosts the ranks of each host, ascending; hosts in the order of their first rank
 */
record HostGroups(List<int[]> hosts) {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final int RECORD = 32; // bytes per rank: created, tag

  /** The hosts of {@code tcp}'s ranks, or empty when they do not agree on who sees whom. */
  static Optional<HostGroups> discover(Collective tcp, JoinSettings settings) {
    int world = tcp.worldSize();
    int rank = tcp.rank();
    byte[] tag = new byte[16];
    RANDOM.nextBytes(tag);
    Path probe = probe(settings.shmDirectory(), tag);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment records = arena.allocate((long) RECORD * world, 64);
      try {
        Files.write(
            Files.createFile(
                probe,
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))),
            tag);
        records.set(ValueLayout.JAVA_INT, (long) RECORD * rank, 1);
        MemorySegment.copy(tag, 0, records, ValueLayout.JAVA_BYTE, (long) RECORD * rank + 4, 16);
      } catch (IOException | UnsupportedOperationException e) {
        settings
            .log()
            .accept("rank " + rank + ": cannot write in " + settings.shmDirectory() + ": " + e);
      }
      Records.allGather(tcp, records, RECORD);
      int row = (world + 3) / 4 * 4; // bytes of a rank's row: whom it sees
      MemorySegment seen = arena.allocate((long) row * world, 64);
      for (int q = 0; q < world; q++) {
        seen.set(
            ValueLayout.JAVA_BYTE,
            (long) row * rank + q,
            (byte) (sees(records, q, rank, settings) ? 1 : 0));
      }
      Records.allGather(tcp, seen, row); // everyone has looked: the probes may go
      try {
        Files.deleteIfExists(probe);
      } catch (IOException e) {
        settings.log().accept("rank " + rank + ": could not remove " + probe + ": " + e);
      }
      return group(seen, row, world);
    }
  }

  private static Path probe(Path dir, byte[] tag) {
    return dir.resolve("cria-probe-" + HexFormat.of().formatHex(tag));
  }

  /** Whether rank {@code me} reads rank {@code q}'s tag in its directory. */
  private static boolean sees(MemorySegment records, int q, int me, JoinSettings settings) {
    if (q == me) {
      return true;
    }
    if (records.get(ValueLayout.JAVA_INT, (long) RECORD * q) != 1) {
      return false;
    }
    byte[] tag = new byte[16];
    MemorySegment.copy(records, ValueLayout.JAVA_BYTE, (long) RECORD * q + 4, tag, 0, 16);
    try {
      return Arrays.equals(Files.readAllBytes(probe(settings.shmDirectory(), tag)), tag);
    } catch (IOException e) {
      return false; // not on this host
    }
  }

  /** The hosts, when "sees" is an equivalence (it is, unless a file system plays tricks). */
  private static Optional<HostGroups> group(MemorySegment seen, int row, int world) {
    List<int[]> hosts = new ArrayList<>();
    boolean[] placed = new boolean[world];
    for (int s = 0; s < world; s++) {
      if (placed[s]) {
        continue;
      }
      List<Integer> members = new ArrayList<>();
      for (int t = 0; t < world; t++) {
        if (seen.get(ValueLayout.JAVA_BYTE, (long) row * s + t) == 1) {
          members.add(t);
        }
      }
      for (int t : members) {
        for (int u = 0; u < world; u++) {
          if (placed[t]
              || seen.get(ValueLayout.JAVA_BYTE, (long) row * t + u)
                  != seen.get(ValueLayout.JAVA_BYTE, (long) row * s + u)) {
            return Optional.empty();
          }
        }
      }
      members.forEach(t -> placed[t] = true);
      hosts.add(members.stream().mapToInt(Integer::intValue).toArray());
    }
    return Optional.of(new HostGroups(List.copyOf(hosts)));
  }

  /** The ranks on {@code rank}'s host, ascending. */
  int[] membersOf(int rank) {
    return hosts.get(hostOf(rank));
  }

  /** The host of {@code rank}, by the order of the hosts' first ranks. */
  int hostOf(int rank) {
    for (int h = 0; h < hosts.size(); h++) {
      if (Arrays.binarySearch(hosts.get(h), rank) >= 0) {
        return h;
      }
    }
    throw new IllegalArgumentException("rank " + rank + " is on no host");
  }

  /** Whether every host has the same number of ranks. */
  boolean uniform() {
    return hosts.stream().mapToInt(h -> h.length).distinct().count() == 1;
  }

  /** "2 hosts of 2 ranks", "2 hosts of 2, 1 ranks". */
  String describe() {
    return hosts.size()
        + " host"
        + (hosts.size() == 1 ? "" : "s")
        + " of "
        + (uniform()
            ? Integer.toString(hosts.getFirst().length)
            : String.join(", ", hosts.stream().map(h -> Integer.toString(h.length)).toList()))
        + " rank"
        + (hosts.getFirst().length == 1 && uniform() ? "" : "s");
  }
}
