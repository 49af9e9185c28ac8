package dev.bollard.bench;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * PNG charts drawn with java.awt in headless mode and written with ImageIO (no charting dependency): latency
 * distributions as boxes (p10–p90 box, p50 line, whisker to p99) on a log scale, and grouped bars. Each category
 * has one box or bar per runtime, in the runtimes' order and colours.
 */
final class Charts {

    /** A latency distribution in milliseconds. */
    record Dist(double p10, double p50, double p90, double p99) {
    }

    /** One group on the x axis: a value per runtime. */
    record Group<T>(String label, Map<String, T> byRuntime) {
    }

    private static final Color[] COLOURS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c)};
    private static final int W = 1200;
    private static final int H = 560;
    private static final int LEFT = 80;
    private static final int RIGHT = 20;
    private static final int TOP = 60;
    private static final int BOTTOM = 110;

    private Charts() {
    }

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Latency boxes of each group, log-scaled y axis in ms. */
    static void latency(Path out, String title, List<String> runtimes, List<Group<Dist>> groups) throws IOException {
        var img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img, title, runtimes);
        double lo = Double.MAX_VALUE;
        double hi = 0;
        for (var gr : groups) {
            for (Dist d : gr.byRuntime().values()) {
                if (d.p10() > 0) {
                    lo = Math.min(lo, d.p10());
                }
                hi = Math.max(hi, d.p99());
            }
        }
        if (hi <= 0) {
            hi = 1;
            lo = 0.1;
        }
        double logLo = Math.floor(Math.log10(Math.min(lo, hi) * 0.9));
        double logHi = Math.ceil(Math.log10(hi * 1.1));
        if (logHi <= logLo) {
            logHi = logLo + 1;
        }
        int plotH = H - TOP - BOTTOM;
        final double fLo = logLo;
        final double fHi = logHi;
        java.util.function.DoubleToIntFunction y = v -> TOP + plotH
                - (int) Math.round((Math.log10(Math.max(v, Math.pow(10, fLo))) - fLo) / (fHi - fLo) * plotH);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int e = (int) logLo; e <= logHi; e++) {
            for (int m : new int[]{1, 2, 5}) {
                double v = m * Math.pow(10, e);
                if (Math.log10(v) > logHi + 1e-9) {
                    break;
                }
                int yy = y.applyAsInt(v);
                g.setColor(m == 1 ? new Color(0xcccccc) : new Color(0xeeeeee));
                g.drawLine(LEFT, yy, W - RIGHT, yy);
                g.setColor(Color.DARK_GRAY);
                String s = v >= 1 ? "%.0f".formatted(v) : "%s".formatted(v);
                g.drawString(s, LEFT - 8 - g.getFontMetrics().stringWidth(s), yy + 4);
            }
        }
        axisLabel(g, "ms (log scale): box p10–p90, line p50, whisker p99");
        double slot = (double) (W - LEFT - RIGHT) / groups.size();
        int box = (int) Math.max(6, Math.min(40, slot * 0.7 / Math.max(1, runtimes.size())));
        for (int i = 0; i < groups.size(); i++) {
            var gr = groups.get(i);
            double x0 = LEFT + slot * i + (slot - box * runtimes.size()) / 2;
            for (int k = 0; k < runtimes.size(); k++) {
                Dist d = gr.byRuntime().get(runtimes.get(k));
                if (d == null || Double.isNaN(d.p50())) {
                    continue;
                }
                int x = (int) (x0 + k * box);
                int cx = x + box / 2;
                Color c = COLOURS[k % COLOURS.length];
                g.setColor(c.darker());
                g.setStroke(new BasicStroke(1.5f));
                g.drawLine(cx, y.applyAsInt(d.p90()), cx, y.applyAsInt(d.p99()));
                g.drawLine(cx - box / 4, y.applyAsInt(d.p99()), cx + box / 4, y.applyAsInt(d.p99()));
                int top = y.applyAsInt(d.p90());
                int bottom = y.applyAsInt(d.p10());
                g.setColor(c);
                g.fillRect(x + 2, top, box - 4, Math.max(2, bottom - top));
                g.setColor(Color.BLACK);
                g.setStroke(new BasicStroke(2f));
                g.drawLine(x + 2, y.applyAsInt(d.p50()), x + box - 2, y.applyAsInt(d.p50()));
            }
            groupLabel(g, gr.label(), (int) (LEFT + slot * i + slot / 2));
        }
        write(img, g, out);
    }

    /** Grouped bars, linear y axis from 0, each bar labelled with its value. */
    static void bars(Path out, String title, String note, String unit, List<String> runtimes,
                     List<Group<Double>> groups) throws IOException {
        var img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img, title, runtimes);
        if (note != null) {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            g.setColor(Color.DARK_GRAY);
            g.drawString(note, LEFT, 50);
        }
        double hi = groups.stream().flatMap(gr -> gr.byRuntime().values().stream())
                .filter(v -> v != null && !v.isNaN()).mapToDouble(Double::doubleValue).max().orElse(1);
        double step = niceStep(hi / 5);
        double top = Math.ceil(hi / step) * step;
        int plotH = H - TOP - BOTTOM;
        java.util.function.DoubleToIntFunction y = v -> TOP + plotH - (int) Math.round(v / top * plotH);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (double v = 0; v <= top + step / 2; v += step) {
            int yy = y.applyAsInt(v);
            g.setColor(new Color(0xdddddd));
            g.drawLine(LEFT, yy, W - RIGHT, yy);
            g.setColor(Color.DARK_GRAY);
            String s = step >= 1 ? "%.0f".formatted(v) : "%.2f".formatted(v);
            g.drawString(s, LEFT - 8 - g.getFontMetrics().stringWidth(s), yy + 4);
        }
        axisLabel(g, unit);
        double slot = (double) (W - LEFT - RIGHT) / groups.size();
        int bar = (int) Math.max(6, Math.min(70, slot * 0.75 / Math.max(1, runtimes.size())));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (int i = 0; i < groups.size(); i++) {
            var gr = groups.get(i);
            double x0 = LEFT + slot * i + (slot - bar * runtimes.size()) / 2;
            for (int k = 0; k < runtimes.size(); k++) {
                Double v = gr.byRuntime().get(runtimes.get(k));
                if (v == null || v.isNaN()) {
                    continue;
                }
                int x = (int) (x0 + k * bar);
                int yy = y.applyAsInt(v);
                g.setColor(COLOURS[k % COLOURS.length]);
                g.fillRect(x + 2, yy, bar - 4, TOP + plotH - yy);
                g.setColor(Color.BLACK);
                String s = v >= 100 ? "%.0f".formatted(v) : v >= 10 ? "%.1f".formatted(v) : "%.2f".formatted(v);
                g.drawString(s, x + bar / 2 - g.getFontMetrics().stringWidth(s) / 2, yy - 3);
            }
            groupLabel(g, gr.label(), (int) (LEFT + slot * i + slot / 2));
        }
        write(img, g, out);
    }

    private static Graphics2D canvas(BufferedImage img, String title, List<String> runtimes) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, LEFT, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        int x = W - RIGHT - 10;
        for (int k = runtimes.size() - 1; k >= 0; k--) {
            String n = runtimes.get(k);
            x -= g.getFontMetrics().stringWidth(n) + 24;
            g.setColor(COLOURS[k % COLOURS.length]);
            g.fillRect(x, 42, 14, 12);
            g.setColor(Color.BLACK);
            g.drawString(n, x + 18, 53);
        }
        g.setColor(Color.GRAY);
        g.drawRect(LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
        return g;
    }

    private static void axisLabel(Graphics2D g, String label) {
        AffineTransform t = g.getTransform();
        g.setColor(Color.DARK_GRAY);
        g.rotate(-Math.PI / 2);
        g.drawString(label, -(TOP + (H - TOP - BOTTOM) / 2) - g.getFontMetrics().stringWidth(label) / 2, 18);
        g.setTransform(t);
    }

    /** A group's label under the axis, turned 30° so long CRI method names fit. */
    private static void groupLabel(Graphics2D g, String label, int cx) {
        AffineTransform t = g.getTransform();
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.translate(cx, H - BOTTOM + 16);
        g.rotate(Math.toRadians(-30));
        g.drawString(label, -g.getFontMetrics().stringWidth(label), 0);
        g.setTransform(t);
    }

    private static double niceStep(double raw) {
        if (raw <= 0) {
            return 1;
        }
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[]{1, 2, 5, 10}) {
            if (raw <= m * mag) {
                return m * mag;
            }
        }
        return 10 * mag;
    }

    private static void write(BufferedImage img, Graphics2D g, Path out) throws IOException {
        g.dispose();
        Files.createDirectories(out.toAbsolutePath().getParent());
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        if (!ImageIO.write(img, "png", tmp.toFile())) {
            throw new IOException("no PNG writer");
        }
        Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
