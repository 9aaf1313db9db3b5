"""Studio routing broker: a SAML backend that lands each person in their team's SageMaker Studio."""
