package dev.cria.train.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

class HydraOverridesTest {
  private static ObjectNode tree() {
    return (ObjectNode)
        YAMLMapper.builder()
            .build()
            .readTree("trainer: {max_steps: 100, max_epochs: -1}\nmodel: {optim: {lr: 1.0e-3}}\n");
  }

  @Test
  void setsAddsAndRemovesKeysWithHydrasValueTypes() {
    ObjectNode t = tree();
    Problems problems = new Problems();
    HydraOverrides.apply(
        t,
        List.of(
            "trainer.max_steps=20",
            "trainer.max_epochs=null",
            "model.optim.lr=3.0e-4",
            "+model.save_xser=True",
            "++model.optim.betas=[0.9,0.95]",
            "+model.data.data_prefix=[1.0,/data/books_text_document]",
            "+exp_manager.checkpoint_callback_params.train_time_interval=36000",
            "~trainer.max_epochs"),
        problems);
    assertThat(problems.lines()).isEmpty();
    assertThat(t.at("/trainer/max_steps").intValue()).isEqualTo(20);
    assertThat(t.at("/trainer").has("max_epochs")).isFalse();
    assertThat(t.at("/model/optim/lr").doubleValue()).isEqualTo(3e-4);
    assertThat(t.at("/model/save_xser").booleanValue()).isTrue();
    assertThat(t.at("/model/optim/betas/1").doubleValue()).isEqualTo(0.95);
    assertThat(t.at("/model/data/data_prefix/1").asString()).isEqualTo("/data/books_text_document");
    assertThat(t.at("/exp_manager/checkpoint_callback_params/train_time_interval").intValue())
        .isEqualTo(36000);
  }

  @Test
  void eachMistakeIsReportedWithTheArgumentAndTheFix() {
    Problems problems = new Problems();
    HydraOverrides.apply(
        tree(),
        List.of(
            "trainer.max_stepz=20",
            "+trainer.max_steps=20",
            "trainer.max_steps.x=1",
            "~model.nothing",
            "model..lr=1",
            "justaword"),
        problems);
    assertThat(problems.lines())
        .containsExactly(
            "override 'trainer.max_stepz=20': trainer.max_stepz is not in the config; did you"
                + " mean trainer.max_steps? (write trainer.max_steps=20; to add a new key,"
                + " +trainer.max_stepz=20)",
            "override '+trainer.max_steps=20': trainer.max_steps is already in the config: write"
                + " trainer.max_steps=20 to change it (or ++trainer.max_steps=20)",
            "override 'trainer.max_steps.x=1': trainer.max_steps is a value, not a mapping",
            "override '~model.nothing': model.nothing is not in the config",
            "override 'model..lr=1': 'model..lr' is not a dotted key such as model.optim.lr",
            "override 'justaword': expected key=value");
  }

  @Test
  void aKeyOfTheOtherLayoutIsPointedToItsPlaceAndAnUnclosedListIsRefused() {
    ObjectNode cria =
        (ObjectNode)
            YAMLMapper.builder()
                .build()
                .readTree("optim: {lr: 1.0e-3}\ndata: {data_prefix: [x]}\n");
    Problems problems = new Problems();
    HydraOverrides.apply(
        cria,
        List.of(
            "model.optim.lr=3e-4",
            "model.data.data_prefix=[1.0,/d/x_text_document]",
            "data.data_prefix=[1.0,/x"),
        problems);
    HydraOverrides.apply(tree(), List.of("optim.lr=3e-4"), problems);
    assertThat(problems.lines())
        .containsExactly(
            "override 'model.optim.lr=3e-4': model.optim.lr is not in the config, which has"
                + " optim.lr (cria's and NeMo's layouts differ): write optim.lr=3e-4",
            "override 'model.data.data_prefix=[1.0,/d/x_text_document]': model.data.data_prefix"
                + " is not in the config, which has data.data_prefix (cria's and NeMo's layouts"
                + " differ): write data.data_prefix=[1.0,/d/x_text_document]",
            "override 'data.data_prefix=[1.0,/x': '[1.0,/x' is not a list or mapping as Hydra"
                + " writes them ([a,b], {k: v}: check the brackets), and text starting with [ must"
                + " be quoted",
            "override 'optim.lr=3e-4': optim.lr is not in the config, which has model.optim.lr"
                + " (cria's and NeMo's layouts differ): write model.optim.lr=3e-4");
    assertThat(cria.get("data").get("data_prefix").toString()).isEqualTo("[\"x\"]");
  }

  @Test
  void aTypoIsOneLetterChangedAddedDroppedOrTwoSwapped() {
    assertThat(HydraOverrides.typo("lrr", "lr")).isTrue();
    assertThat(HydraOverrides.typo("l", "lr")).isTrue();
    assertThat(HydraOverrides.typo("seeed", "seed")).isTrue();
    assertThat(HydraOverrides.typo("sede", "seed")).isTrue();
    assertThat(HydraOverrides.typo("zeed", "seed")).isTrue();
    assertThat(HydraOverrides.typo("seed", "seed")).isFalse();
    assertThat(HydraOverrides.typo("lr", "min_lr")).isFalse();
    assertThat(HydraOverrides.typo("warmup", "warm")).isFalse();
    assertThat(HydraOverrides.typo("abcd", "badc")).isFalse();
    Problems problems = new Problems();
    HydraOverrides.apply(tree(), List.of("trainer.new_key=1", "+trainer.max_stepz=20"), problems);
    assertThat(problems.lines())
        .containsExactly(
            "override 'trainer.new_key=1': trainer.new_key is not in the config; to add it write"
                + " +trainer.new_key=1");
  }
}
