package dev.llmrelay.example.simulate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;

/**
 * The bodies the simulator sends, in the shapes of the OpenAI API (and OpenRouter's {@code /key}).
 * The answer text is a fixed sentence cut into word-sized pieces, one per stream event, so that
 * tests can count pieces and a streamed answer joins up to the non-streamed one.
 *
 * <p>Stateless and thread-safe (a configured {@link ObjectMapper} is).
 */
final class OpenAiBodies {
  static final String DEFAULT_MODEL = "simulated-model";
  static final String SSE_OPENING_COMMENT = ": OPENROUTER PROCESSING\n\n";
  static final String SSE_DONE = "data: [DONE]\n\n";
  static final String HTML_BAD_GATEWAY =
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
          + "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>simulated-cdn</center>\r\n"
          + "</body>\r\n</html>\r\n";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] WORDS =
      ("This is a simulated answer from the llmrelay test upstream, sent one piece at a time so"
              + " that latency, buffering and broken streams can be observed.")
          .split(" ");
  private static final double[] EMBEDDING = {
    0.0023, -0.0091, 0.0152, 0.0078, -0.0044, 0.0201, -0.0133, 0.0067
  };

  private OpenAiBodies() {}

  /** The {@code index}-th of {@code count} pieces of the answer text. */
  static String piece(int index, int count) {
    String word = WORDS[index % WORDS.length];
    return index < count - 1 ? word + " " : word;
  }

  /** The whole answer text of {@code count} pieces. */
  static String text(int count) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < count; i++) {
      text.append(piece(i, count));
    }
    return text.toString();
  }

  /** A rough prompt token count: a quarter of the request body's bytes, at least 1. */
  static int promptTokens(int requestBytes) {
    return Math.max(1, requestBytes / 4);
  }

  static byte[] chatCompletion(
      String id, String model, long created, int pieces, int promptTokens) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id).put("object", "chat.completion").put("created", created).put("model", model);
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("message").put("role", "assistant").put("content", text(pieces));
    choice.putNull("logprobs");
    choice.put("finish_reason", "stop");
    usage(root, promptTokens, pieces);
    return bytes(root);
  }

  static byte[] textCompletion(
      String id, String model, long created, int pieces, int promptTokens) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id).put("object", "text_completion").put("created", created).put("model", model);
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("text", text(pieces)).put("index", 0).putNull("logprobs");
    choice.put("finish_reason", "stop");
    usage(root, promptTokens, pieces);
    return bytes(root);
  }

  /**
   * The {@code index}-th {@code data:} event of a streamed chat completion of {@code events}
   * events: the role first, then one piece of content each, then {@code finish_reason} and usage.
   */
  static byte[] chatChunkEvent(
      String id, String model, long created, int index, int events, int promptTokens) {
    int pieces = events - 2;
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id).put("object", "chat.completion.chunk").put("created", created);
    root.put("model", model);
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode delta = choice.putObject("delta");
    if (index == 0) {
      delta.put("role", "assistant").put("content", "");
    } else if (index < events - 1) {
      delta.put("content", piece(index - 1, pieces));
    }
    if (index == events - 1) {
      choice.put("finish_reason", "stop");
      usage(root, promptTokens, pieces);
    } else {
      choice.putNull("finish_reason");
    }
    return event(root);
  }

  /**
   * The {@code index}-th {@code data:} event of a streamed text completion of {@code events}
   * events: one piece of text each, then an empty text with {@code finish_reason} and usage.
   */
  static byte[] textChunkEvent(
      String id, String model, long created, int index, int events, int promptTokens) {
    int pieces = events - 1;
    ObjectNode root = JSON.createObjectNode();
    root.put("id", id).put("object", "text_completion").put("created", created).put("model", model);
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("text", index < events - 1 ? piece(index, pieces) : "");
    choice.put("index", 0).putNull("logprobs");
    if (index == events - 1) {
      choice.put("finish_reason", "stop");
      usage(root, promptTokens, pieces);
    } else {
      choice.putNull("finish_reason");
    }
    return event(root);
  }

  static byte[] embeddings(String model, int inputs, int promptTokens) {
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (int i = 0; i < inputs; i++) {
      ObjectNode item = data.addObject();
      item.put("object", "embedding").put("index", i);
      ArrayNode vector = item.putArray("embedding");
      for (double v : EMBEDDING) {
        vector.add(v);
      }
    }
    root.put("model", model);
    root.putObject("usage").put("prompt_tokens", promptTokens).put("total_tokens", promptTokens);
    return bytes(root);
  }

  static byte[] models(long created) {
    ObjectNode root = JSON.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String id : new String[] {DEFAULT_MODEL, "simulated-model-large", "simulated-embedding"}) {
      data.addObject()
          .put("id", id)
          .put("object", "model")
          .put("created", created)
          .put("owned_by", "llmrelay-simulator");
    }
    return bytes(root);
  }

  /** OpenRouter's {@code GET /key} answer for a key without limit. */
  static byte[] key() {
    ObjectNode root = JSON.createObjectNode();
    root.putObject("data").put("label", "simulated").put("usage", 0).putNull("limit");
    return bytes(root);
  }

  /** An OpenAI-shaped error body with {@code "param": null}; {@code code} may be null. */
  static byte[] error(String message, String type, String code) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode error = root.putObject("error");
    error.put("message", message).put("type", type).putNull("param");
    if (code == null) {
      error.putNull("code");
    } else {
      error.put("code", code);
    }
    return bytes(root);
  }

  static ObjectMapper mapper() {
    return JSON;
  }

  private static void usage(ObjectNode root, int promptTokens, int completionTokens) {
    root.putObject("usage")
        .put("prompt_tokens", promptTokens)
        .put("completion_tokens", completionTokens)
        .put("total_tokens", promptTokens + completionTokens);
  }

  private static byte[] event(ObjectNode root) {
    return ("data: " + new String(bytes(root), StandardCharsets.UTF_8) + "\n\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] bytes(ObjectNode root) {
    try {
      return JSON.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise a tree built in memory", e);
    }
  }
}
