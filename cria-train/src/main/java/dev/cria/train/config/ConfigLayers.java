package dev.cria.train.config;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.node.ObjectNode;

/**
 * A run's config merged from its layers: cria's defaults, the config saved with the run (when it is
 * continued), the user's file in cria's layout or NeMo's, Hydra-style {@code key=value} arguments,
 * then cria's flags. Every mistake of every layer is gathered and reported together by {@link
 * #bind}.
 */
public final class ConfigLayers {
  private final ObjectNode tree;
  private final String source;
  private final Problems problems;
  private final List<String> notes;
  private final Map<String, String> origins;
  private final boolean nemo;

  private ConfigLayers(
      ObjectNode tree,
      String source,
      Problems problems,
      List<String> notes,
      Map<String, String> origins,
      boolean nemo) {
    this.tree = tree;
    this.source = source;
    this.problems = problems;
    this.notes = notes;
    this.origins = origins;
    this.nemo = nemo;
  }

  /**
   * Merges the layers; nothing is checked yet but the files' syntax.
   *
   * @param saved the run's saved config (cria's layout), or null
   * @param file the user's config file, or null
   * @param assignments Hydra-style overrides ({@code key=value}, {@code +key=value}, {@code
   *     ++key=value}, {@code ~key}), applied to the file's keys (NeMo's layout or cria's)
   * @param flags cria's keys from its flags, applied last; null values are not set
   */
  public static ConfigLayers merge(
      Path saved, Path file, List<String> assignments, Map<String, Object> flags) {
    ObjectNode tree = TrainConfigFile.defaults();
    Problems problems = new Problems();
    List<String> notes = new ArrayList<>();
    Map<String, String> origins = new LinkedHashMap<>();
    List<String> sources = new ArrayList<>();
    if (saved != null) {
      ObjectNode savedTree = TrainConfigFile.read(saved);
      if (savedTree.get("trainer") instanceof ObjectNode trainer) {
        trainer.remove(
            "threads"); // this machine's, not the run's (the launcher sets it per worker)
      }
      TrainConfigFile.merge(tree, savedTree);
      sources.add(saved.toString());
    }
    boolean nemo = false;
    if (file != null) {
      ObjectNode user = TrainConfigFile.read(file);
      nemo = NemoLayout.isNemo(user);
      if (nemo) {
        HydraOverrides.apply(user, assignments, problems);
        NemoLayout.Translation t = NemoLayout.read(user, file.toString(), problems);
        TrainConfigFile.merge(tree, t.tree());
        notes.addAll(t.notes());
        origins.putAll(t.origins());
        for (String key : t.required()) {
          String target =
              t.origins().entrySet().stream()
                  .filter(e -> e.getValue().equals(key))
                  .map(Map.Entry::getKey)
                  .findFirst()
                  .orElse(null);
          if (target == null || flags.get(target) == null) {
            problems.add(file + ": " + key + ": " + Interpolations.REQUIRED);
          }
        }
      } else {
        TrainConfigFile.merge(tree, user);
      }
      sources.add(file.toString());
    }
    if (!nemo) {
      HydraOverrides.apply(tree, assignments, problems);
    }
    if (!assignments.isEmpty()) {
      sources.add("overrides");
    }
    flags.forEach((key, value) -> {
      if (value != null) {
        TrainConfigFile.set(tree, key, value);
      }
    });
    sources.add("flags");
    String source =
        sources.size() == 1
            ? sources.getFirst()
            : String.join(", ", sources.subList(0, sources.size() - 1)) + " and flags";
    return new ConfigLayers(tree, source, problems, notes, origins, nemo);
  }

  /** The merged keys, unchecked (for the run directory before the config is bound). */
  public ObjectNode tree() {
    return tree;
  }

  /** Whether the user's file was in NeMo's layout. */
  public boolean nemo() {
    return nemo;
  }

  /**
   * The keys of the file that have no effect in cria, a line per reason (empty for cria's layout).
   */
  public List<String> notes() {
    return List.copyOf(notes);
  }

  /**
   * Checks every key and builds the config; all mistakes of all layers in one {@link
   * ConfigException}, a NeMo file's keys named as the file names them.
   */
  public TrainConfig bind() {
    return bind(true);
  }

  /** {@link #bind()}; without {@code dataRequired} a config that names no data is accepted. */
  public TrainConfig bind(boolean dataRequired) {
    Problems all = new Problems();
    problems.lines().forEach(all::add);
    Problems binding = new Problems();
    TrainConfig config = TrainConfigFile.bind(tree, source, binding, dataRequired);
    for (String line : binding.lines()) {
      String line2 = asTheFileNamesIt(line);
      if (all.lines().stream().noneMatch(seen -> sameKey(seen, line2))) {
        all.add(line2);
      }
    }
    all.throwIfAny();
    return config;
  }

  /**
   * {@code line}, a mistake found in cria's keys, with the keys a NeMo file set named as the file
   * names them: the key a line is about ({@code FILE: key: ...}) with cria's name beside it, any
   * other key it mentions (a rule across keys) by the file's name alone.
   */
  private String asTheFileNamesIt(String line) {
    String renamed = line;
    for (Map.Entry<String, String> e : origins.entrySet()) {
      String criaKey = ": " + e.getKey() + ":";
      if (renamed.contains(criaKey)) {
        renamed = renamed.replace(criaKey, ": " + e.getValue() + " (cria's " + e.getKey() + "):");
      } else if (!e.getKey().equals(e.getValue())) {
        renamed =
            renamed.replaceAll(
                "(?<![\\w.])" + Pattern.quote(e.getKey()) + "(?![\\w.])",
                Matcher.quoteReplacement(e.getValue()));
      }
    }
    return renamed;
  }

  /** Whether two lines are about the same key (the file's mistake already says it). */
  private static boolean sameKey(String a, String b) {
    return key(a) != null && key(a).equals(key(b));
  }

  private static String key(String line) {
    String[] parts = line.split(": ", 3);
    return parts.length < 3 ? null : parts[1].split(" ")[0];
  }
}
