package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.ref.WeakReference;
import java.net.HttpURLConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.HttpUrl;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.servlets.DefaultServlet;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.startup.Constants;
import org.apache.catalina.startup.ContextConfig;
import org.apache.catalina.startup.Tomcat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12, points 2 and 3, as a user meets them: a WAR whose {@code web.xml} holds exactly the
 * README's lines (read from README.md between its markers), deployed into an embedded Tomcat 11
 * beside the application's own static page and servlet, used under its prefix, then undeployed.
 *
 * <p>Realistic on purpose: the WAR is an exploded directory whose {@code WEB-INF/lib} holds
 * llmrelay's jars and their dependencies, copied from the test class path, so Tomcat's webapp
 * class loader (parent-last) loads OkHttp, Okio and llmrelay itself, with their static state and
 * their threads, as it would from a real WAR. Tomcat's own leak detection (which warns about every
 * live thread whose context class loader is the webapp's) is captured from java.util.logging.
 */
class WarDeploymentTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String SNIPPET_BEGIN = "<!-- llmrelay:web.xml -->";
  private static final String SNIPPET_END = "<!-- /llmrelay:web.xml -->";
  /** The README snippet's placeholders, replaced by the test's upstream and .env file. */
  private static final String README_UPSTREAM = "https://openrouter.ai/api/v1";
  private static final String README_DOTENV = "/etc/shop/llmrelay.env";
  private static final String STATIC_PAGE = "<html><body>the shop's own page</body></html>";
  /** Jars of the class path that go into WEB-INF/lib: llmrelay's runtime dependencies. */
  private static final List<String> RUNTIME_JARS = List.of(
      "okhttp-jvm-", "okio-jvm-", "kotlin-stdlib-", "failsafe-", "jackson-core-", "jackson-databind-",
      "jackson-annotations-", "slf4j-api-");

  @TempDir Path tmp;

  private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
  private final Handler capture = new Handler() {
    @Override
    public void publish(LogRecord record) {
      logged.add(record);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };
  /** Held so that its configuration stays while the test runs (JUL keeps loggers weakly). */
  private final Logger rootLogger = Logger.getLogger("");

  private MockWebServer upstreamA;
  private MockWebServer upstreamB;
  private Tomcat tomcat;
  private int port;

  @BeforeEach
  void startTomcatAndUpstreams() throws Exception {
    rootLogger.addHandler(capture);
    upstreamA = Upstreams.start();
    upstreamB = Upstreams.start();
    tomcat = new Tomcat();
    tomcat.setBaseDir(Files.createDirectories(tmp.resolve("tomcat")).toString());
    tomcat.getHost().setAppBase(Files.createDirectories(tmp.resolve("webapps")).toString());
    Connector connector = new Connector();
    connector.setPort(0);
    connector.setProperty("address", "127.0.0.1");
    tomcat.setConnector(connector);
    tomcat.start();
    port = connector.getLocalPort();
  }

  @AfterEach
  void stopTomcatAndUpstreams() throws Exception {
    try {
      tomcat.stop();
      tomcat.destroy();
    } finally {
      rootLogger.removeHandler(capture);
      upstreamA.close();
      upstreamB.close();
    }
  }

  // ---- the WAR ---------------------------------------------------------------------------------

  /**
   * The README's {@code web.xml} lines: the fenced block between the markers of README.md (the
   * module's parent directory). A README without them fails the test: they are what users copy.
   */
  static String readmeSnippet() throws IOException {
    Path readme = Path.of(System.getProperty("user.dir")).resolve("../README.md").normalize();
    String text = Files.readString(readme, StandardCharsets.UTF_8);
    assertThat(text).as("README.md marks its web.xml lines with " + SNIPPET_BEGIN).contains(SNIPPET_BEGIN, SNIPPET_END);
    String marked = text.substring(text.indexOf(SNIPPET_BEGIN) + SNIPPET_BEGIN.length(), text.indexOf(SNIPPET_END));
    String fenced = marked.substring(marked.indexOf("```xml") + "```xml".length(), marked.lastIndexOf("```"));
    return fenced.strip();
  }

  /**
   * An exploded WAR: the application's web.xml (its own servlet, plus the README's lines with
   * {@code upstream} and {@code dotenv} in place of the placeholders, plus {@code extra}
   * context-params), a static page, the application's servlet class, and WEB-INF/lib.
   */
  private Path war(String name, MockWebServer upstream, Path dotenv, String extra) throws Exception {
    Path war = Files.createDirectories(tmp.resolve(name));
    String snippet = readmeSnippet();
    assertThat(snippet).as("the README snippet's placeholders").contains(README_UPSTREAM, README_DOTENV);
    snippet = snippet
        .replace(README_UPSTREAM, "http://127.0.0.1:" + upstream.getPort() + "/v1")
        .replace(README_DOTENV, dotenv.toString());
    Files.createDirectories(war.resolve("WEB-INF/lib"));
    Files.writeString(war.resolve("WEB-INF/web.xml"), String.join("\n",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<web-app xmlns=\"https://jakarta.ee/xml/ns/jakartaee\"",
        "         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
        "         xsi:schemaLocation=\"https://jakarta.ee/xml/ns/jakartaee https://jakarta.ee/xml/ns/jakartaee/web-app_6_0.xsd\"",
        "         version=\"6.0\">",
        "  <servlet>",
        "    <servlet-name>shop</servlet-name>",
        "    <servlet-class>dev.llmrelay.servlet.war.ShopServlet</servlet-class>",
        "  </servlet>",
        "  <servlet-mapping>",
        "    <servlet-name>shop</servlet-name>",
        "    <url-pattern>/api/*</url-pattern>",
        "  </servlet-mapping>",
        snippet,
        extra,
        "</web-app>",
        ""), StandardCharsets.UTF_8);
    Files.writeString(war.resolve("index.html"), STATIC_PAGE, StandardCharsets.UTF_8);
    Path shopClass = Path.of(dev.llmrelay.servlet.war.ShopServlet.class.getProtectionDomain().getCodeSource().getLocation().toURI())
        .resolve("dev/llmrelay/servlet/war/ShopServlet.class");
    Path target = war.resolve("WEB-INF/classes/dev/llmrelay/servlet/war/ShopServlet.class");
    Files.createDirectories(target.getParent());
    Files.copy(shopClass, target);
    for (Path entry : llmrelayRuntime()) {
      Path lib = war.resolve("WEB-INF/lib");
      if (Files.isDirectory(entry)) {
        String jarName = entry.getParent().getParent().getFileName() + ".jar"; // proxy-core/target/classes
        jar(entry, lib.resolve(jarName));
      } else {
        Files.copy(entry, lib.resolve(entry.getFileName()));
      }
    }
    return war;
  }

  /** llmrelay's two modules (their class directories) and their runtime dependencies, from the test class path. */
  private static List<Path> llmrelayRuntime() {
    List<Path> found = new ArrayList<>();
    List<String> missing = new ArrayList<>(RUNTIME_JARS);
    missing.add("proxy-core/target/classes");
    missing.add("proxy-servlet/target/classes");
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path path = Path.of(entry);
      String unix = entry.replace(File.separatorChar, '/');
      String match;
      String file0 = path.getFileName().toString();
      // `mvn test` puts the modules' class directories on the class path, `mvn verify` their jars.
      if (unix.endsWith("proxy-core/target/classes") || isModuleJar(file0, "proxy-core")) {
        match = "proxy-core/target/classes";
      } else if (unix.endsWith("proxy-servlet/target/classes") || isModuleJar(file0, "proxy-servlet")) {
        match = "proxy-servlet/target/classes";
      } else {
        String file = path.getFileName().toString();
        match = RUNTIME_JARS.stream().filter(p -> file.startsWith(p) && file.endsWith(".jar")).findFirst().orElse(null);
      }
      if (match != null && missing.remove(match)) {
        found.add(path);
      }
    }
    assertThat(missing).as("class path entries the WAR needs (run with -pl proxy-core,proxy-servlet)").isEmpty();
    return found;
  }

  /** proxy-core-VERSION.jar, not its -tests, -sources or -javadoc jars. */
  private static boolean isModuleJar(String file, String module) {
    return file.startsWith(module + "-") && file.endsWith(".jar")
        && !file.endsWith("-tests.jar") && !file.endsWith("-sources.jar") && !file.endsWith("-javadoc.jar");
  }

  private static void jar(Path classes, Path jar) throws IOException {
    try (OutputStream out = Files.newOutputStream(jar);
        JarOutputStream jarOut = new JarOutputStream(out);
        Stream<Path> files = Files.walk(classes)) {
      for (Path file : files.filter(Files::isRegularFile).sorted().toList()) {
        jarOut.putNextEntry(new JarEntry(classes.relativize(file).toString().replace(File.separatorChar, '/')));
        Files.copy(file, jarOut);
        jarOut.closeEntry();
      }
    }
  }

  /** A .env file outside the WAR, holding the upstream key. */
  private Path dotenv(String name, String key) throws IOException {
    Path file = tmp.resolve(name);
    Files.writeString(file, "UPSTREAM_API_KEY=" + key + "\n", StandardCharsets.UTF_8);
    return file;
  }

  /**
   * Deploys {@code war} at {@code contextPath} as Tomcat deploys a WAR: configured from its
   * web.xml, plus the default servlet (static files) that Tomcat's conf/web.xml gives every
   * application (without conf/web.xml's JSP servlet: Jasper is not on the class path).
   *
   * @return the context, started, or failed when its start failed
   */
  private Context deploy(String contextPath, Path war) {
    StandardContext context = new StandardContext();
    context.setName(contextPath);
    context.setPath(contextPath);
    context.setDocBase(war.toString());
    ContextConfig config = new ContextConfig();
    config.setDefaultWebXml(Constants.NoDefaultWebXml);
    context.addLifecycleListener(config);
    Tomcat.addServlet(context, "default", new DefaultServlet());
    context.addServletMappingDecoded("/", "default");
    Tomcat.addDefaultMimeTypeMappings(context);
    try {
      tomcat.getHost().addChild(context);
    } catch (IllegalStateException startFailed) {
      // Tomcat reports a failed start this way; the context's state and the log say why.
    }
    return context;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private HttpUrl url(String path) {
    return HttpUrl.get("http://127.0.0.1:" + port + path);
  }

  /** An answer to the test's client. */
  record Reply(int statusCode, String body) {}

  /**
   * The test's requests go through the JDK's HttpURLConnection, not OkHttp: then every OkHttp or
   * Okio thread in this JVM that was not there before the deployment is the WAR's own (the test's
   * OkHttp would start a task runner and an Okio watchdog of its own, by those names).
   */
  private Reply send(String method, String path, String jsonBody) throws IOException {
    HttpURLConnection connection = (HttpURLConnection) url(path).url().openConnection();
    connection.setConnectTimeout(5_000);
    connection.setReadTimeout(10_000);
    connection.setRequestMethod(method);
    if (jsonBody != null) {
      connection.setDoOutput(true);
      connection.setRequestProperty("Content-Type", "application/json");
      try (OutputStream out = connection.getOutputStream()) {
        out.write(jsonBody.getBytes(StandardCharsets.UTF_8));
      }
    }
    int status = connection.getResponseCode();
    try (InputStream in = status < 400 ? connection.getInputStream() : connection.getErrorStream()) {
      return new Reply(status, in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
  }

  private Reply get(String path) throws IOException {
    return send("GET", path, null);
  }

  private Reply postChat(String path) throws IOException {
    return send("POST", path, Upstreams.CHAT_REQUEST);
  }

  private static String text(LogRecord r) {
    StringWriter out = new StringWriter();
    out.append(r.getLoggerName()).append(' ').append(String.valueOf(r.getLevel())).append(": ")
        .append(r.getMessage() == null ? "" : r.getMessage());
    if (r.getThrown() != null) {
      out.append('\n');
      r.getThrown().printStackTrace(new PrintWriter(out));
    }
    return out.toString();
  }

  /**
   * What Tomcat's webapp class loader said while the applications stopped: its leak warnings.
   * Without the {@code --add-opens} options that Tomcat's start scripts pass, Tomcat also warns
   * that it cannot check ThreadLocals and RMI targets; those two notes about the test JVM are not
   * leaks and are left out (the surefire configuration may add the options to enable the checks).
   */
  private List<String> leakWarnings() {
    return logged.stream()
        .filter(r -> r.getLoggerName() != null && r.getLoggerName().startsWith("org.apache.catalina.loader"))
        .filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
        .filter(r -> r.getMessage() == null || !r.getMessage().startsWith("You need to add \"--add-opens="))
        .map(WarDeploymentTest::text)
        .toList();
  }

  /** Threads started since {@code before} that belong to the relay, OkHttp or Okio, or to the webapp's class loader. */
  private static List<String> survivors(Set<Thread> before, ClassLoader webapp) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .filter(t -> !before.contains(t))
        .filter(t -> t.getName().startsWith("llmrelay-") || t.getName().startsWith("OkHttp") || t.getName().startsWith("Okio")
            || (webapp != null && (t.getContextClassLoader() == webapp || t.getClass().getClassLoader() == webapp)))
        .map(t -> t.getName() + " [" + t.getClass().getName() + " of " + t.getClass().getClassLoader()
            + ", context loader " + t.getContextClassLoader() + "]")
        .toList();
  }

  private static MockResponse chatAnswer(String content) {
    return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body(Upstreams.CHAT_JSON.replace("Hello!", content)).build();
  }

  // ---- the tests -------------------------------------------------------------------------------

  @Test
  void aWarWithTheReadmesLinesRunsBesideTheAppUnderItsPrefixAndUndeploysLeavingNothing() throws Exception {
    // Given a WAR with the README's lines, its upstream and its key in a .env file outside the WAR
    String key = "sk-shop-0123456789abcdef";
    Path war = war("shop", upstreamA, dotenv("shop.env", key), "");
    Set<Thread> before = Thread.getAllStackTraces().keySet();

    // When Tomcat deploys it
    Context context = deploy("/shop", war);
    assertThat(context.getState()).as("deployed").isEqualTo(LifecycleState.STARTED);
    ClassLoader webapp = context.getLoader().getClassLoader();
    assertThat(webapp.loadClass("okhttp3.OkHttpClient").getClassLoader()).as("OkHttp from WEB-INF/lib").isSameAs(webapp);
    assertThat(webapp.loadClass("okio.AsyncTimeout").getClassLoader()).as("Okio from WEB-INF/lib").isSameAs(webapp);
    assertThat(webapp.loadClass(LlmRelayContextListener.class.getName()).getClassLoader())
        .as("llmrelay from WEB-INF/lib").isSameAs(webapp);

    // Then the relay answers under /shop/llm, configured by its own web.xml and .env file
    upstreamA.enqueue(chatAnswer("from the shop's upstream"));
    Reply chat = postChat("/shop/llm/v1/chat/completions");
    assertThat(chat.statusCode()).as("chat status").isEqualTo(200);
    assertThat(MAPPER.readTree(chat.body()).at("/choices/0/message/content").asText())
        .as("chat answer").isEqualTo("from the shop's upstream");
    RecordedRequest relayed = upstreamA.takeRequest(1, TimeUnit.SECONDS);
    assertThat(relayed.getTarget()).as("upstream path").isEqualTo("/v1/chat/completions");
    assertThat(relayed.getHeaders().get("Authorization")).as("the key from the .env file").isEqualTo("Bearer " + key);

    upstreamA.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{\"data\":[]}").build());
    Reply models = get("/shop/llm/v1/models");
    assertThat(models.statusCode()).as("models").isEqualTo(200);
    assertThat(models.body()).as("models body").isEqualTo("{\"data\":[]}");

    assertThat(get("/shop/llm/health").statusCode()).as("liveness").isEqualTo(200);
    upstreamA.enqueue(new MockResponse.Builder().code(200).body("{\"data\":[]}").build());
    Reply upstreamHealth = get("/shop/llm/health/upstream");
    assertThat(upstreamHealth.statusCode()).as("upstream health").isEqualTo(200);
    assertThat(MAPPER.readTree(upstreamHealth.body()).at("/upstream").asText()).as("upstream state").isEqualTo("reachable");

    Reply unknown = get("/shop/llm/v1/nothing");
    assertThat(unknown.statusCode()).as("unknown path under the prefix").isEqualTo(404);
    assertThat(MAPPER.readTree(unknown.body()).at("/error/code").asText()).as("the relay's JSON 404").isEqualTo("not_found");

    // And the application's own content is untouched
    Reply page = get("/shop/index.html");
    assertThat(page.statusCode()).as("static page").isEqualTo(200);
    assertThat(page.body()).as("static page body").isEqualTo(STATIC_PAGE);
    Reply own = get("/shop/api/orders");
    assertThat(own.statusCode()).as("the application's servlet").isEqualTo(200);
    assertThat(own.body()).as("the application's servlet body").isEqualTo("shop servlet: /api/orders");
    Reply missing = get("/shop/missing.html");
    assertThat(missing.statusCode()).as("the application's 404").isEqualTo(404);
    assertThat(missing.body()).as("not the relay's JSON").doesNotContain("proxy_error");
    assertThat(upstreamA.getRequestCount()).as("upstream requests: chat, models, probe").isEqualTo(3);

    // When Tomcat undeploys it
    WeakReference<ClassLoader> webappRef = new WeakReference<>(webapp);
    webapp = null;
    tomcat.getHost().removeChild(context);
    context = null;

    // Then Tomcat has nothing to warn about, nothing of the relay runs any more, no key was logged
    assertThat(leakWarnings()).as("Tomcat's leak warnings on undeploy").isEmpty();
    assertThat(survivors(before, webappRef.get())).as("threads left after undeploy").isEmpty();
    assertThat(logged.stream().map(WarDeploymentTest::text).filter(t -> t.contains(key)).toList())
        .as("log records holding the key").isEmpty();
    assertThat(get("/shop/llm/health").statusCode()).as("undeployed").isEqualTo(404);
  }

  @Test
  void twoWarsInOneTomcatRunWithTwoConfigurationsAndBothUndeployCleanly() throws Exception {
    // Given two WARs with the same README lines, each with its own upstream and key
    Path warA = war("a", upstreamA, dotenv("a.env", "sk-a-0000000000000001"), "");
    Path warB = war("b", upstreamB, dotenv("b.env", "sk-b-0000000000000002"),
        "<context-param><param-name>MAX_ATTEMPTS</param-name><param-value>2</param-value></context-param>");
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    Context a = deploy("/a", warA);
    Context b = deploy("/b", warB);
    assertThat(a.getState()).as("a deployed").isEqualTo(LifecycleState.STARTED);
    assertThat(b.getState()).as("b deployed").isEqualTo(LifecycleState.STARTED);

    // When each is asked for a completion (b's upstream fails once: b retries, as its web.xml says)
    upstreamA.enqueue(chatAnswer("answer of a"));
    upstreamB.enqueue(new MockResponse.Builder().code(503).body("{\"error\":{\"message\":\"busy\"}}").build());
    upstreamB.enqueue(chatAnswer("answer of b"));
    Reply fromA = postChat("/a/llm/v1/chat/completions");
    Reply fromB = postChat("/b/llm/v1/chat/completions");

    // Then each went to its own upstream, with its own key and its own attempts
    assertThat(MAPPER.readTree(fromA.body()).at("/choices/0/message/content").asText()).as("a's answer").isEqualTo("answer of a");
    assertThat(MAPPER.readTree(fromB.body()).at("/choices/0/message/content").asText()).as("b's answer").isEqualTo("answer of b");
    assertThat(upstreamA.getRequestCount()).as("a's upstream requests").isEqualTo(1);
    assertThat(upstreamB.getRequestCount()).as("b's upstream requests (MAX_ATTEMPTS=2 from b's web.xml)").isEqualTo(2);
    assertThat(upstreamA.takeRequest(1, TimeUnit.SECONDS).getHeaders().get("Authorization")).isEqualTo("Bearer sk-a-0000000000000001");
    assertThat(upstreamB.takeRequest(1, TimeUnit.SECONDS).getHeaders().get("Authorization")).isEqualTo("Bearer sk-b-0000000000000002");

    // When both are undeployed, one after the other
    ClassLoader loaderA = a.getLoader().getClassLoader();
    ClassLoader loaderB = b.getLoader().getClassLoader();
    tomcat.getHost().removeChild(a);
    assertThat(get("/b/llm/health").statusCode()).as("b still serves once a is gone").isEqualTo(200);
    tomcat.getHost().removeChild(b);

    // Then neither left anything
    assertThat(leakWarnings()).as("Tomcat's leak warnings").isEmpty();
    assertThat(survivors(before, loaderA)).as("threads of a").isEmpty();
    assertThat(survivors(before, loaderB)).as("threads of b").isEmpty();
  }

  @Test
  void anInvalidSettingFailsTheDeploymentNamingItWithoutTheKeyAndLeavesNothingRunning() throws Exception {
    // Given a WAR whose web.xml has a typo in one setting, and a key in its .env file
    String key = "sk-bad-abcdef0123456789";
    Path war = war("bad", upstreamA, dotenv("bad.env", key),
        "<context-param><param-name>MAX_ATTEMPTS</param-name><param-value>three</param-value></context-param>");
    Set<Thread> before = Thread.getAllStackTraces().keySet();

    // When Tomcat deploys it
    Context context = deploy("/bad", war);

    // Then the deployment failed, saying which setting and where, and never the key
    assertThat(context.getState()).as("the application's state").isNotEqualTo(LifecycleState.STARTED);
    List<String> log = logged.stream().map(WarDeploymentTest::text).toList();
    assertThat(log).as("Tomcat's log").anySatisfy(line -> assertThat(line)
        .contains("llmrelay cannot start in /bad")
        .contains("MAX_ATTEMPTS"));
    assertThat(log.stream().filter(line -> line.contains(key)).toList()).as("log lines holding the key").isEmpty();
    assertThat(get("/bad/llm/health").statusCode()).as("nothing served").isEqualTo(404);
    assertThat(upstreamA.getRequestCount()).as("upstream requests").isZero();

    // And nothing was left running
    ClassLoader webapp = context.getLoader() == null ? null : context.getLoader().getClassLoader();
    tomcat.getHost().removeChild(context);
    assertThat(leakWarnings()).as("Tomcat's leak warnings").isEmpty();
    assertThat(survivors(before, webapp)).as("threads left").isEmpty();
  }

  @Test
  void aStreamItsClientAbandonsLeavesOnlyOkiosWatchdogWhichTomcatDoesNotBlameOnTheWar() throws Exception {
    // Given a deployed WAR and an upstream stream that trickles for seconds
    Path war = war("stream", upstreamA, dotenv("stream.env", "sk-stream-0000000000000003"), "");
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    Context context = deploy("/stream", war);
    ClassLoader webapp = context.getLoader().getClassLoader();
    StringBuilder events = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      events.append(Upstreams.chunk("part" + i));
    }
    upstreamA.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(events.toString()).throttleBody(256, 100, TimeUnit.MILLISECONDS).build());

    // When the client reads the first event and goes away
    HttpURLConnection connection = (HttpURLConnection) url("/stream/llm/v1/chat/completions").url().openConnection();
    connection.setReadTimeout(10_000);
    connection.setRequestMethod("POST");
    connection.setDoOutput(true);
    connection.setRequestProperty("Content-Type", "application/json");
    try (OutputStream out = connection.getOutputStream()) {
      out.write("{\"model\":\"m\",\"stream\":true,\"messages\":[]}".getBytes(StandardCharsets.UTF_8));
    }
    assertThat(connection.getResponseCode()).as("stream status").isEqualTo(200);
    java.io.BufferedReader reader = new java.io.BufferedReader(
        new java.io.InputStreamReader(connection.getInputStream(), StandardCharsets.UTF_8));
    assertThat(reader.readLine()).as("first event").contains("part0");
    connection.disconnect();

    // Then the relay cancels the upstream call; closing the cut body makes OkHttp drain it under a
    // deadline, which starts Okio's process-wide watchdog thread (Okio offers no way to stop it)
    await("the WAR's Okio watchdog, started by the cancelled call")
        .atMost(Duration.ofSeconds(10))
        .until(() -> Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getClass().getClassLoader() == webapp));

    // When the WAR is undeployed
    tomcat.getHost().removeChild(context);

    // Then Tomcat blames nothing on the WAR: the watchdog was started from a relay thread, whose
    // context class loader is not the WAR's. Only the watchdog itself remains; it ends after 60 s
    // without timeouts and holds the WAR's copy of Okio until then.
    assertThat(leakWarnings()).as("Tomcat's leak warnings").isEmpty();
    List<Thread> left = Thread.getAllStackTraces().keySet().stream()
        .filter(t -> !before.contains(t) && t.isAlive())
        .filter(t -> t.getName().startsWith("llmrelay-") || t.getName().startsWith("OkHttp") || t.getName().startsWith("Okio")
            || t.getContextClassLoader() == webapp || t.getClass().getClassLoader() == webapp)
        .toList();
    assertThat(left).as("threads left").singleElement().satisfies(watchdog -> {
      assertThat(watchdog.getName()).isEqualTo("Okio Watchdog");
      assertThat(watchdog.getContextClassLoader()).as("its context class loader").isNotSameAs(webapp);
    });
  }
}
