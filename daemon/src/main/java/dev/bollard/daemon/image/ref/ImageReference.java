package dev.bollard.daemon.image.ref;

import dev.bollard.daemon.content.Digest;

import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * An image reference normalized the way containerd, CRI-O and docker normalize one (the "normalized named" rules of
 * the distribution/reference library): {@code busybox} is {@code docker.io/library/busybox:latest}.
 *
 * <p>Grammar: {@code [domain "/"] path [":" tag] ["@" digest]}. The first path component is a domain when it contains
 * a '.' or a ':', is {@code localhost}, or has upper-case letters (upper case is not allowed in a path, so it can only
 * be a host name); otherwise the domain is {@code docker.io}. A single-component name on docker.io lives under
 * {@code library/}. When neither tag nor digest is given the tag is {@code latest}.
 *
 * <p>A reference with both a tag and a digest keeps both; the digest is what gets fetched. (containerd's CRI plugin
 * drops the tag of such a reference before pulling; {@link #withoutTag()} gives that form.)
 *
 * @param domain     registry host, with its port if any, e.g. {@code docker.io} or {@code localhost:5000}
 * @param repository the path without the domain, e.g. {@code library/busybox}
 */
public record ImageReference(String domain, String repository, Optional<String> tag, Optional<Digest> digest) {

    public static final String DEFAULT_DOMAIN = "docker.io";
    public static final String DEFAULT_TAG = "latest";
    /** Docker Hub's old name, canonicalized to {@link #DEFAULT_DOMAIN}. */
    private static final String LEGACY_DEFAULT_DOMAIN = "index.docker.io";
    private static final String OFFICIAL_PREFIX = "library/";
    private static final int MAX_REPOSITORY_LENGTH = 255;

    // The grammar of distribution/reference (regexp.go), piece by piece so each failure can be named.
    private static final String DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    private static final Pattern DOMAIN = Pattern.compile(
            "(?:" + DOMAIN_COMPONENT + "(?:\\." + DOMAIN_COMPONENT + ")*|\\[[a-fA-F0-9:]+])(?::[0-9]+)?");
    private static final Pattern PATH_COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("\\w[\\w.-]{0,127}");
    private static final Pattern DIGEST = Pattern.compile(
            "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}");
    /** A bare image ID: refused as a name so that it is never mistaken for docker.io/library/<64 hex>. */
    private static final Pattern IDENTIFIER = Pattern.compile("[a-f0-9]{64}");

    public ImageReference {
        Objects.requireNonNull(domain, "domain");
        Objects.requireNonNull(repository, "repository");
        Objects.requireNonNull(tag, "tag");
        Objects.requireNonNull(digest, "digest");
        String shown = render(domain, repository, tag, digest);
        if (!DOMAIN.matcher(domain).matches()) {
            throw invalid(shown, "invalid domain \"" + domain + "\"");
        }
        checkRepository(shown, repository);
        tag.ifPresent(t -> checkTag(shown, t));
        if (tag.isEmpty() && digest.isEmpty()) {
            throw invalid(shown, "a reference needs a tag or a digest");
        }
    }

    /**
     * Parses and normalizes a reference as kubelet or crictl passes it.
     *
     * @throws IllegalArgumentException whose message names the reference and what is wrong with it
     */
    public static ImageReference parse(String reference) {
        Objects.requireNonNull(reference, "reference");
        if (reference.isEmpty()) {
            throw invalid(reference, "repository name must have at least one component");
        }
        if (IDENTIFIER.matcher(reference).matches()) {
            throw invalid(reference, "a 64-character hexadecimal string is an image ID, not a repository name");
        }

        // Domain first: a port's ':' must not be taken for a tag separator.
        String domain;
        String remainder;
        int slash = reference.indexOf('/');
        if (slash < 0) {
            // A single component ("busybox", "busybox:1.36", even "localhost:5000") is always a Docker Hub name.
            domain = DEFAULT_DOMAIN;
            remainder = reference;
        } else {
            String first = reference.substring(0, slash);
            if (looksLikeDomain(first)) {
                domain = first.equals(LEGACY_DEFAULT_DOMAIN) ? DEFAULT_DOMAIN : first;
                remainder = reference.substring(slash + 1);
            } else {
                domain = DEFAULT_DOMAIN;
                remainder = reference;
            }
        }

        String digestText = null;
        int at = remainder.indexOf('@');
        if (at >= 0) {
            digestText = remainder.substring(at + 1);
            remainder = remainder.substring(0, at);
        }
        String tag = null;
        int colon = remainder.lastIndexOf(':');
        if (colon >= 0 && colon > remainder.lastIndexOf('/')) {
            tag = remainder.substring(colon + 1);
            remainder = remainder.substring(0, colon);
        }
        String repository = remainder;
        if (domain.equals(DEFAULT_DOMAIN) && !repository.contains("/")) {
            repository = OFFICIAL_PREFIX + repository;
        }

        if (!DOMAIN.matcher(domain).matches()) {
            throw invalid(reference, "invalid domain \"" + domain + "\"");
        }
        if (!repository.toLowerCase(Locale.ROOT).equals(repository)) {
            throw invalid(reference, "repository name \"" + repository + "\" must be lowercase");
        }
        checkRepository(reference, repository);
        if (tag != null) {
            checkTag(reference, tag);
        }
        Optional<Digest> digest = Optional.empty();
        if (digestText != null) {
            digest = Optional.of(parseDigest(reference, digestText));
        }
        return new ImageReference(domain, repository,
                tag == null && digest.isEmpty() ? Optional.of(DEFAULT_TAG) : Optional.ofNullable(tag), digest);
    }

    private static boolean looksLikeDomain(String first) {
        return first.equals("localhost") || first.contains(".") || first.contains(":")
                || !first.toLowerCase(Locale.ROOT).equals(first);
    }

    private static void checkRepository(String shown, String repository) {
        if (repository.isEmpty()) {
            throw invalid(shown, "repository name must have at least one component");
        }
        for (String component : repository.split("/", -1)) {
            if (component.isEmpty()) {
                throw invalid(shown, "empty path component in repository name \"" + repository + "\"");
            }
            if (!PATH_COMPONENT.matcher(component).matches()) {
                String why = component.toLowerCase(Locale.ROOT).equals(component)
                        ? " (lower-case letters and digits, separated by '.', '_', '__' or dashes)"
                        : " (must be lowercase)";
                throw invalid(shown, "invalid path component \"" + component + "\"" + why);
            }
        }
        if (repository.length() > MAX_REPOSITORY_LENGTH) {
            throw invalid(shown, "repository name must not be more than " + MAX_REPOSITORY_LENGTH + " characters");
        }
    }

    private static void checkTag(String shown, String tag) {
        if (!TAG.matcher(tag).matches()) {
            throw invalid(shown, "invalid tag \"" + tag + "\" (a word character, then up to 127 of [A-Za-z0-9_.-])");
        }
    }

    private static Digest parseDigest(String shown, String text) {
        if (!DIGEST.matcher(text).matches()) {
            throw invalid(shown, "invalid digest \"" + text + "\"");
        }
        try {
            return Digest.parse(text);
        } catch (IllegalArgumentException e) {
            throw invalid(shown, e.getMessage());
        }
    }

    private static IllegalArgumentException invalid(String reference, String problem) {
        return new IllegalArgumentException("invalid image reference \"" + reference + "\": " + problem);
    }

    /** {@code domain/repository}: the name without tag or digest, e.g. {@code docker.io/library/busybox}. */
    public String name() {
        return domain + "/" + repository;
    }

    /** What CRI lists in an image's repo_tags, e.g. {@code docker.io/library/busybox:1.36}; empty without a tag. */
    public Optional<String> repoTag() {
        return tag.map(t -> name() + ":" + t);
    }

    /** {@code name@digest}: the form CRI lists in repo_digests, and the reference that pins one manifest. */
    public ImageReference withDigest(Digest newDigest) {
        return new ImageReference(domain, repository, Optional.empty(), Optional.of(newDigest));
    }

    /** The same reference with {@code newTag} and no digest. */
    public ImageReference withTag(String newTag) {
        return new ImageReference(domain, repository, Optional.of(newTag), Optional.empty());
    }

    /** A tag-and-digest reference reduced to its digest (containerd's ParseDockerRef); others unchanged. */
    public ImageReference withoutTag() {
        return digest.isPresent() && tag.isPresent() ? withDigest(digest.get()) : this;
    }

    /**
     * What to ask the registry's manifests endpoint for: the digest when there is one (it wins over the tag),
     * otherwise the tag.
     */
    public String manifestReference() {
        return digest.map(Digest::toString).orElseGet(tag::orElseThrow);
    }

    /** The short form docker shows: {@code busybox:latest}, {@code user/app:1}, {@code quay.io/x/y:2}. */
    public String familiar() {
        String name = name();
        if (domain.equals(DEFAULT_DOMAIN)) {
            name = repository;
            if (repository.startsWith(OFFICIAL_PREFIX) && repository.indexOf('/', OFFICIAL_PREFIX.length()) < 0) {
                name = repository.substring(OFFICIAL_PREFIX.length());
            }
        }
        return name + tag.map(t -> ":" + t).orElse("") + digest.map(d -> "@" + d).orElse("");
    }

    /** Canonical form: {@code name:tag}, {@code name@digest} or {@code name:tag@digest}. */
    @Override
    public String toString() {
        return render(domain, repository, tag, digest);
    }

    private static String render(String domain, String repository, Optional<String> tag, Optional<Digest> digest) {
        return domain + "/" + repository + tag.map(t -> ":" + t).orElse("") + digest.map(d -> "@" + d).orElse("");
    }
}
