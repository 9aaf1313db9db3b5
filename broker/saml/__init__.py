"""SAML validation: a posted SAMLResponse in, a verified :class:`Identity` out."""

from __future__ import annotations

from broker.saml.validator import Identity, SamlValidator

__all__ = ["Identity", "SamlValidator"]
