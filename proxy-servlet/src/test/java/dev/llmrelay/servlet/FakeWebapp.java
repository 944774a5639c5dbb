package dev.llmrelay.servlet;

import jakarta.servlet.ServletConfig;
import jakarta.servlet.ServletContext;
import java.lang.reflect.Proxy;
import java.util.Collections;
import java.util.Map;

/** A servlet context and a servlet config that hold init parameters and nothing else. */
final class FakeWebapp {
  private FakeWebapp() {}

  /** A context whose context parameters are {@code params}; any other call fails the test. */
  static ServletContext context(Map<String, String> params) {
    return (ServletContext) Proxy.newProxyInstance(
        FakeWebapp.class.getClassLoader(), new Class<?>[] {ServletContext.class}, (proxy, method, args) -> {
          switch (method.getName()) {
            case "getInitParameterNames":
              return Collections.enumeration(params.keySet());
            case "getInitParameter":
              return params.get((String) args[0]);
            case "getContextPath":
              return "/fake";
            default:
              throw new AssertionError("not faked: ServletContext." + method.getName());
          }
        });
  }

  /** A servlet config whose init parameters are {@code params}. */
  static ServletConfig servlet(ServletContext context, Map<String, String> params) {
    return (ServletConfig) Proxy.newProxyInstance(
        FakeWebapp.class.getClassLoader(), new Class<?>[] {ServletConfig.class}, (proxy, method, args) -> {
          switch (method.getName()) {
            case "getInitParameterNames":
              return Collections.enumeration(params.keySet());
            case "getInitParameter":
              return params.get((String) args[0]);
            case "getServletContext":
              return context;
            case "getServletName":
              return "fake";
            default:
              throw new AssertionError("not faked: ServletConfig." + method.getName());
          }
        });
  }
}
