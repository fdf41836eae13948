package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.annotations.SerializedName;
import io.kubernetes.client.custom.IntOrString;
import io.kubernetes.client.custom.Quantity;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Checks Kubernetes objects against the API types of Kubernetes 1.35, offline: the official Java client's models
 * ({@code io.kubernetes:client-java-api}), which are generated from the API server's OpenAPI spec. An object fails
 * on an unknown field or a missing required one ({@code validateJsonElement}, as {@code kubectl --validate=strict}
 * does), on a value of the wrong shape (an object where a string belongs, text where a number belongs: the models'
 * own parsing), and, as the API server's strict decoding does, on a number or boolean where a string belongs (the
 * classic {@code value: 8080} of an environment variable). Quantities and int-or-string fields take either.
 */
final class KubernetesSchema {
  private static final String MODELS = "io.kubernetes.client.openapi.models.";

  private KubernetesSchema() {}

  /** What is wrong with {@code object}, one line per problem naming the object; empty when it is valid. */
  static List<String> problems(JsonNode object) {
    String apiVersion = object.path("apiVersion").asText("");
    String kind = object.path("kind").asText("");
    String name = kind + "/" + object.path("metadata").path("name").asText("?");
    if (apiVersion.isEmpty() || kind.isEmpty()) return List.of(name + ": no apiVersion or kind");
    Class<?> model = modelOf(apiVersion, kind);
    if (model == null) return List.of(name + ": " + apiVersion + " " + kind + " is not a type of the Kubernetes API");
    List<String> problems = new ArrayList<>();
    JsonElement json = JsonParser.parseString(object.toString());
    try {
      Method validate = model.getMethod("validateJsonElement", JsonElement.class);
      validate.invoke(null, json);
      new io.kubernetes.client.openapi.JSON();
      io.kubernetes.client.openapi.JSON.getGson().fromJson(json, model);
    } catch (java.lang.reflect.InvocationTargetException e) {
      problems.add(name + ": " + e.getCause().getMessage());
    } catch (RuntimeException | ReflectiveOperationException e) {
      problems.add(name + ": " + e.getMessage());
    }
    strings(json, model, name, "", problems);
    return problems;
  }

  /** The model class of {@code apiVersion} and {@code kind}: apps/v1 Deployment is V1Deployment. */
  static Class<?> modelOf(String apiVersion, String kind) {
    String version = apiVersion.substring(apiVersion.indexOf('/') + 1);
    try {
      return Class.forName(MODELS + "V" + version.substring(1) + kind);
    } catch (ClassNotFoundException e) {
      return null;
    }
  }

  /** Every field the model types as a string holds a JSON string (the API server refuses a number or a boolean). */
  private static void strings(JsonElement json, Type type, String name, String path, List<String> problems) {
    if (json == null || json.isJsonNull()) return;
    if (type instanceof ParameterizedType parameterized) {
      Type raw = parameterized.getRawType();
      Type[] arguments = parameterized.getActualTypeArguments();
      if (raw == List.class && json.isJsonArray()) {
        JsonArray array = json.getAsJsonArray();
        for (int i = 0; i < array.size(); i++) strings(array.get(i), arguments[0], name, path + "[" + i + "]", problems);
      } else if (raw == Map.class && json.isJsonObject()) {
        for (Map.Entry<String, JsonElement> entry : json.getAsJsonObject().entrySet()) {
          strings(entry.getValue(), arguments[1], name, path + "." + entry.getKey(), problems);
        }
      }
      return;
    }
    if (type == String.class) {
      if (json.isJsonPrimitive() && !json.getAsJsonPrimitive().isString()) {
        problems.add(name + ": " + path.substring(1) + " is " + json + ", a " + (json.getAsJsonPrimitive().isNumber()
            ? "number" : "boolean") + "; the API wants a string here (quote it: \"" + json.getAsString() + "\")");
      }
      return;
    }
    if (!(type instanceof Class<?> model) || type == Quantity.class || type == IntOrString.class || !json.isJsonObject()
        || !model.getName().startsWith(MODELS)) {
      return;
    }
    JsonObject object = json.getAsJsonObject();
    for (Field field : model.getDeclaredFields()) {
      SerializedName serialized = field.getAnnotation(SerializedName.class);
      if (serialized == null || !object.has(serialized.value())) continue;
      strings(object.get(serialized.value()), field.getGenericType(), name, path + "." + serialized.value(), problems);
    }
  }
}
