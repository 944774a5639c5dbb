package dev.llmrelay.servlet.war;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * The web application's own servlet in the WAR deployment tests, declared in its {@code web.xml}
 * and loaded from its {@code WEB-INF/classes}: plain text naming the path it was asked for, and the
 * class loader that loaded it (the proof that the WAR's classes are the webapp's own).
 */
public final class ShopServlet extends HttpServlet {
  private static final long serialVersionUID = 1L;

  @Override
  protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
    response.setContentType("text/plain;charset=utf-8");
    response.getWriter().print("shop servlet: " + request.getServletPath() + request.getPathInfo());
  }
}
