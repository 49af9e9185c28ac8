package dev.bollard.daemon.registry;

/**
 * Credentials for one registry host, as CRI's AuthConfig carries them. Empty strings mean "not given".
 *
 * @param username      user for Basic auth, or for the token server
 * @param password      its password
 * @param identityToken an OAuth2 refresh token: exchanged at the token realm for an access token
 * @param registryToken a bearer token sent to the registry as is, without any token server
 */
public record Credentials(String username, String password, String identityToken, String registryToken) {

    public static final Credentials ANONYMOUS = new Credentials("", "", "", "");

    public Credentials {
        username = username == null ? "" : username;
        password = password == null ? "" : password;
        identityToken = identityToken == null ? "" : identityToken;
        registryToken = registryToken == null ? "" : registryToken;
    }

    public static Credentials basic(String username, String password) {
        return new Credentials(username, password, "", "");
    }

    boolean hasPassword() {
        return !username.isEmpty() && !password.isEmpty();
    }

    @Override
    public String toString() {
        // never log secrets
        return "Credentials[username=" + username + (password.isEmpty() ? "" : ", password=***")
                + (identityToken.isEmpty() ? "" : ", identityToken=***")
                + (registryToken.isEmpty() ? "" : ", registryToken=***") + "]";
    }
}
