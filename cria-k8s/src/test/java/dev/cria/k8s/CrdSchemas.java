package dev.cria.k8s;

import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * A CRD's {@code openAPIV3Schema}, as an API server validates and prunes against it: the schema
 * (draft 7, which networknt reads) and the fields an object has that the schema neither declares
 * nor lets through (the API server would drop them silently).
 */
final class CrdSchemas {
  private CrdSchemas() {}

  /** The {@code openAPIV3Schema} of version {@code version} in the CRD file {@code crd}. */
  static JsonNode schemaNode(Path crd, String version) throws IOException {
    JsonNode doc = YAMLMapper.builder().build().readTree(crd.toFile());
    for (JsonNode v : doc.path("spec").path("versions")) {
      if (v.path("name").asString().equals(version)) {
        return v.path("schema").path("openAPIV3Schema");
      }
    }
    throw new IOException(crd + ": no version " + version);
  }

  /** {@code node} as a validating schema. */
  static Schema schema(JsonNode node) {
    return SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_7).getSchema(node);
  }

  /** Fields of {@code instance} that {@code schema} neither declares nor lets through. */
  static List<String> undeclared(JsonNode schema, JsonNode instance, String path) {
    List<String> out = new ArrayList<>();
    if (schema.path("x-kubernetes-preserve-unknown-fields").asBoolean(false)) {
      return out;
    }
    if (instance.isObject()) {
      JsonNode properties = schema.path("properties");
      JsonNode additional = schema.path("additionalProperties");
      for (var e : instance.properties()) {
        JsonNode sub = properties.path(e.getKey());
        if (!sub.isMissingNode()) {
          out.addAll(undeclared(sub, e.getValue(), path + "." + e.getKey()));
        } else if (additional.isObject()) {
          out.addAll(undeclared(additional, e.getValue(), path + "." + e.getKey()));
        } else if (!additional.asBoolean(false) && !path.endsWith("metadata")) {
          out.add(path + "." + e.getKey());
        }
      }
    } else if (instance.isArray()) {
      for (int i = 0; i < instance.size(); i++) {
        out.addAll(undeclared(schema.path("items"), instance.get(i), path + "[" + i + "]"));
      }
    }
    return out;
  }
}
