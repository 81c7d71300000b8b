package dev.cria.core.run;

import java.util.Locale;

/** What a rank is doing, as its {@code status.json} says. */
public enum RankState {
  /** Joining the group, checking the config, opening the data, loading weights. */
  STARTING,
  /** Taking optimizer steps. */
  TRAINING,
  /** Computing the validation loss. */
  VALIDATING,
  /** Writing a checkpoint. */
  SAVING,
  /** Stopped on request (Ctrl-C, SIGTERM) before max_steps; the same command resumes it. */
  STOPPED,
  /** Ended with an error ({@code last_error} says which). */
  FAILED,
  /** Reached max_steps. */
  FINISHED;

  /** The name in the file: lower case. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether the rank has ended (stopped, failed or finished). */
  public boolean ended() {
    return this == STOPPED || this == FAILED || this == FINISHED;
  }

  /** The state called {@code label}. */
  public static RankState of(String label) {
    for (RankState s : values()) {
      if (s.label().equals(label.toLowerCase(Locale.ROOT))) {
        return s;
      }
    }
    throw new IllegalArgumentException(
        "state '"
            + label
            + "' is none of "
            + java.util.Arrays.stream(values())
                .map(RankState::label)
                .collect(java.util.stream.Collectors.joining(", ")));
  }
}
