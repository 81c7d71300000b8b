package dev.cria.data.gpt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Megatron's blending order, against tools/make_blend_vectors.py's fixture. */
class BlendedGptSamplesTest {
  /** Part {@code d}: sample {@code i} is the tokens {@code [d, i, i, ...]}. */
  private record Fake(int d, long size) implements GptSamples {
    @Override
    public int seqLength() {
      return 3;
    }

    @Override
    public void sample(long i, int[] out, int at) {
      assertThat(i).isLessThan(size);
      Arrays.fill(out, at, at + 4, (int) i);
      out[at] = d;
    }
  }

  @Test
  void matchesMegatronsBlendingIndices() throws Exception {
    JsonNode fixture;
    try (InputStream in = getClass().getResourceAsStream("/fixtures/blend_vectors.json")) {
      fixture = JsonMapper.builder().build().readTree(in);
    }
    for (JsonNode c : fixture.get("cases")) {
      double[] weights = new double[c.get("weights").size()];
      for (int i = 0; i < weights.length; i++) {
        weights[i] = c.get("weights").get(i).doubleValue();
      }
      long target = c.get("target").longValue();
      long[] sizes = BlendedGptSamples.partSizes(weights, target, BlendedGptSamples.SURPLUS);
      for (int d = 0; d < sizes.length; d++) {
        assertThat(sizes[d]).isEqualTo(c.get("part_sizes").get(d).longValue());
      }
      long size = Arrays.stream(BlendedGptSamples.partSizes(weights, target, 0)).sum();
      assertThat(size).isEqualTo(c.get("size").longValue());
      List<Fake> parts = new ArrayList<>();
      for (int d = 0; d < sizes.length; d++) {
        parts.add(new Fake(d, sizes[d]));
      }
      BlendedGptSamples blend = BlendedGptSamples.of(parts, weights, size);
      int[] out = new int[4];
      for (int i = 0; i < size; i++) {
        int d = c.get("dataset_index").get(i).intValue();
        long s = c.get("dataset_sample_index").get(i).longValue();
        assertThat(blend.datasetOf(i)).as("sample %d", i).isEqualTo(d);
        assertThat(blend.sampleOf(i)).isEqualTo(s);
        blend.sample(i, out, 0);
        assertThat(out).containsExactly(d, (int) s, (int) s, (int) s);
      }
    }
  }

  @Test
  void badBlendsAreRefused() {
    List<Fake> two = List.of(new Fake(0, 5), new Fake(1, 5));
    assertThatThrownBy(() -> BlendedGptSamples.of(two, new double[] {1}, 4))
        .hasMessageContaining("one weight per dataset");
    assertThatThrownBy(() -> BlendedGptSamples.of(two, new double[] {1, -1}, 4))
        .hasMessageContaining("positive");
    assertThatThrownBy(() -> BlendedGptSamples.of(two, new double[] {1, 1}, 20))
        .hasMessageContaining("has 5 samples");
  }
}
