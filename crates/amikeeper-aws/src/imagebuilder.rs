//! [`ImageBuilderApi`] over `aws-sdk-imagebuilder`: the account's recipes and the AMIs they
//! build from, for a sweep whose inventory scan decides alone.

use amikeeper::backend::{AwsResult, ImageBuilderApi};
use amikeeper::model::{RecipeImage, Region};
use async_trait::async_trait;
use aws_sdk_imagebuilder::types::Ownership;

use crate::error::{from_sdk_error, invalid_response};
use crate::SdkAws;

const SERVICE: &str = "imagebuilder";

#[async_trait]
impl ImageBuilderApi for SdkAws {
    async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<RecipeImage>> {
        let client = self.imagebuilder(region)?;
        let image_recipes: Vec<_> = client
            .list_image_recipes()
            .owner(Ownership::SelfValue)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| from_sdk_error(SERVICE, "ListImageRecipes", error))?;
        let mut recipes = Vec::new();
        for summary in &image_recipes {
            let arn =
                summary.arn().ok_or_else(|| invalid_response(SERVICE, "ListImageRecipes", "a recipe without arn"))?;
            recipes.push(RecipeImage {
                arn: arn.to_owned(),
                resource_type: "imagebuilder:ImageRecipe".to_owned(),
                image: summary.parent_image().unwrap_or_default().to_owned(),
            });
        }
        let container_recipes: Vec<_> = client
            .list_container_recipes()
            .owner(Ownership::SelfValue)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| from_sdk_error(SERVICE, "ListContainerRecipes", error))?;
        // The AMI a container recipe's build instances launch from is only in the recipe itself.
        for summary in &container_recipes {
            let arn = summary
                .arn()
                .ok_or_else(|| invalid_response(SERVICE, "ListContainerRecipes", "a recipe without arn"))?;
            let recipe = client
                .get_container_recipe()
                .container_recipe_arn(arn)
                .send()
                .await
                .map_err(|error| from_sdk_error(SERVICE, "GetContainerRecipe", error))?;
            let image = recipe
                .container_recipe()
                .and_then(|r| r.instance_configuration())
                .and_then(|c| c.image())
                .unwrap_or_default();
            recipes.push(RecipeImage {
                arn: arn.to_owned(),
                resource_type: "imagebuilder:ContainerRecipe".to_owned(),
                image: image.to_owned(),
            });
        }
        tracing::debug!(%region, recipes = recipes.len(), "listed Image Builder recipes");
        Ok(recipes)
    }
}
