public enum DroveManifestPlaceholder {}
