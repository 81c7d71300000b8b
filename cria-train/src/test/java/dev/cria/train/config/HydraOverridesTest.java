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
            "override 'trainer.max_stepz=20': trainer.max_stepz is not in the config; to add it"
                + " write +trainer.max_stepz=20",
            "override '+trainer.max_steps=20': trainer.max_steps is already in the config: write"
                + " trainer.max_steps=20 to change it (or ++trainer.max_steps=20)",
            "override 'trainer.max_steps.x=1': trainer.max_steps is a value, not a mapping",
            "override '~model.nothing': model.nothing is not in the config",
            "override 'model..lr=1': 'model..lr' is not a dotted key such as model.optim.lr",
            "override 'justaword': expected key=value");
  }
}
