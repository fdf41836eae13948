package io.quarry.coordinator.http;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * A request body that must be one JSON object with only the fields an endpoint allows. An empty body is an
 * empty object (every field of this API is optional). Every problem is an {@link ApiError} 400 naming the field
 * or the line and column.
 */
final class JsonBody {
  private static final ObjectReader READER = ApiJson.MAPPER.reader()
      .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .with(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private final ObjectNode body;

  private JsonBody(ObjectNode body) {
    this.body = body;
  }

  /** Parses {@code bytes} as one JSON object whose fields are all in {@code allowed}. */
  static JsonBody parse(byte[] bytes, List<String> allowed) {
    if (isBlank(bytes)) return new JsonBody(ApiJson.object());
    JsonNode tree;
    try {
      tree = READER.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw new ApiError(StatusCodes.BAD_REQUEST, "malformed JSON" + where(e.getLocation()) + ": " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new ApiError(StatusCodes.BAD_REQUEST, "malformed JSON: " + e.getMessage());
    }
    if (!tree.isObject()) {
      throw new ApiError(StatusCodes.BAD_REQUEST,
          "the body must be a JSON object with the fields " + allowed + ", not " + typeOf(tree));
    }
    for (Iterator<String> names = tree.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!allowed.contains(name)) {
        throw new ApiError(StatusCodes.BAD_REQUEST, "unknown field '" + name + "'; allowed: " + String.join(", ", allowed));
      }
    }
    return new JsonBody((ObjectNode) tree);
  }

  /** The string field {@code name}, or {@code null} when it is absent or JSON null. */
  String string(String name) {
    JsonNode value = body.get(name);
    if (value == null || value.isNull()) return null;
    if (!value.isTextual()) {
      throw new ApiError(StatusCodes.BAD_REQUEST, "field '" + name + "' must be a string, not " + typeOf(value));
    }
    return value.textValue();
  }

  /** The array-of-strings field {@code name}; empty when it is absent or JSON null. */
  List<String> strings(String name, String example) {
    JsonNode value = body.get(name);
    if (value == null || value.isNull()) return List.of();
    if (!value.isArray()) {
      throw new ApiError(StatusCodes.BAD_REQUEST,
          "field '" + name + "' must be an array of strings like " + example + ", not " + typeOf(value));
    }
    List<String> strings = new ArrayList<>(value.size());
    for (int i = 0; i < value.size(); i++) {
      JsonNode element = value.get(i);
      if (!element.isTextual()) {
        throw new ApiError(StatusCodes.BAD_REQUEST,
            "field '" + name + "[" + i + "]' must be a string like " + example + ", not " + typeOf(element));
      }
      strings.add(element.textValue());
    }
    return strings;
  }

  private static boolean isBlank(byte[] bytes) {
    for (byte b : bytes) {
      if (b != ' ' && b != '\t' && b != '\r' && b != '\n') return false;
    }
    return true;
  }

  private static String where(JsonLocation location) {
    if (location == null || location.getLineNr() < 1) return "";
    return " at line " + location.getLineNr() + ", column " + location.getColumnNr();
  }

  private static String typeOf(JsonNode node) {
    JsonNodeType type = node.getNodeType();
    String name = type.name().toLowerCase(Locale.ROOT);
    if (node.isValueNode() && !node.isNull()) return "the " + name + " " + node;
    return switch (type) {
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      case NULL -> "null";
      default -> "a " + name;
    };
  }
}
