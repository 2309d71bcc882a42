"""The AWS Signer REST-JSON API (2017-08-25) and firmseal's native endpoints, over service/."""
