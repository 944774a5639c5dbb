package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The relay's one Jackson mapper and factory (both thread-safe once configured). */
public final class Json {
  /** Shared mapper; never reconfigured after class initialisation. */
  public static final ObjectMapper MAPPER = new ObjectMapper();
  /** Its factory, for streaming parsing and generation. */
  public static final JsonFactory FACTORY = MAPPER.getFactory();

  private Json() {}
}
