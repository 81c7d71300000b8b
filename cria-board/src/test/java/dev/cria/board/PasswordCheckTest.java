package dev.cria.board;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The board's password check: only the user and password open it, and each failure in a row pauses
 * longer than the one before (recorded, not slept), until a success resets it.
 */
class PasswordCheckTest {
  @Test
  void failuresInARowPauseLongerUpToTwoSecondsAndASuccessResetsThem() {
    List<Long> pauses = new ArrayList<>();
    PasswordCheck check = new PasswordCheck("cria board", "admin", "s3cret", pauses::add);
    for (int i = 0; i < 8; i++) {
      assertThat(check.checkCredentials("admin", "guess-" + i)).isFalse();
    }
    assertThat(pauses).containsExactly(50L, 100L, 200L, 400L, 800L, 1600L, 2000L, 2000L);
    assertThat(check.checkCredentials("admin", "s3cret")).isTrue();
    assertThat(pauses).hasSize(8); // no pause for the right password
    assertThat(check.checkCredentials("root", "s3cret")).isFalse(); // the user counts too
    assertThat(check.checkCredentials(null, null)).isFalse();
    assertThat(pauses.subList(8, 10)).containsExactly(50L, 100L); // back from the start
  }
}
