package kstreams.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What every bench runner reports about itself, as the TypeScript runners do (src/measure.ts): one
 * JSON line {@code {"cpuSeconds", "peakRssBytes"}} at SIGTERM (marked {@code atTerminate}) and one
 * after the close. CPU is the whole process (every JVM thread: JIT, GC, client I/O), peak RSS is the
 * kernel's high-water mark (VmHWM), so no sampling is needed.
 */
final class Report {
  private static final Pattern HIGH_WATER_MARK = Pattern.compile("^VmHWM:\\s+(\\d+) kB", Pattern.MULTILINE);

  private Report() {}

  static String json(boolean atTerminate) {
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    double cpuSeconds = os.getProcessCpuTime() / 1e9;
    long peakRssBytes = peakRssBytes();
    return "{\"cpuSeconds\":" + cpuSeconds + ",\"peakRssBytes\":" + peakRssBytes
        + (atTerminate ? ",\"atTerminate\":true" : "") + "}";
  }

  private static long peakRssBytes() {
    try {
      Matcher matcher = HIGH_WATER_MARK.matcher(Files.readString(Path.of("/proc/self/status")));
      return matcher.find() ? Long.parseLong(matcher.group(1)) * 1024 : -1;
    } catch (IOException error) {
      return -1;
    }
  }

  /**
   * Prints "ready", then on SIGTERM the report, runs {@code close}, prints the report again. Also
   * halts when the parent (the Node wrapper) is gone, so a killed wrapper leaves no JVM behind.
   */
  static void onTerminate(Runnable close) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println(json(true));
      System.out.flush();
      try {
        close.run();
      } catch (RuntimeException error) {
        System.err.println("runner failed to stop: " + error);
      }
      System.out.println(json(false));
      System.out.flush();
    }, "bench-report"));
    ProcessHandle parent = ProcessHandle.current().parent().orElse(null);
    if (parent != null) {
      Thread watcher = new Thread(() -> {
        while (parent.isAlive()) {
          try {
            Thread.sleep(1000);
          } catch (InterruptedException error) {
            return;
          }
        }
        Runtime.getRuntime().halt(1);
      }, "bench-parent-watch");
      watcher.setDaemon(true);
      watcher.start();
    }
    System.out.println("ready");
    System.out.flush();
  }
}
